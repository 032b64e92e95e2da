# The licence must be active, already valid and not expired at the request time.
package modelvault

import rego.v1

default allow := false

now := time.parse_rfc3339_ns(input.time)

deny contains "no licence presented" if not input.licence

deny contains msg if {
	input.licence.status != "active"
	msg := sprintf("licence %s is %s", [input.licence.id, input.licence.status])
}

deny contains msg if {
	now >= time.parse_rfc3339_ns(input.licence.expires_at)
	msg := sprintf("licence %s expired at %s", [input.licence.id, input.licence.expires_at])
}

deny contains msg if {
	now < time.parse_rfc3339_ns(input.licence.not_before)
	msg := sprintf("licence %s is not valid before %s", [input.licence.id, input.licence.not_before])
}

allow if count(deny) == 0
