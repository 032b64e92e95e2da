# A reference-compatible policy (package model, no input): the file may be opened until the end of 2027.
package model

import rego.v1

default allow := false

allow if time.now_ns() < time.parse_rfc3339_ns("2028-01-01T00:00:00Z")
