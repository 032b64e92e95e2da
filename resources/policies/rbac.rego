# Role-based access: analysts may open and load, admins may do everything, nobody may export without "exporter".
package modelvault

import rego.v1

default allow := false

permissions := {
	"viewer": {"inspect"},
	"analyst": {"inspect", "open", "load", "decrypt"},
	"exporter": {"export"},
	"admin": {"inspect", "open", "load", "decrypt", "export", "rewrap"},
}

allow if {
	some role in input.subscriber.roles
	input.action in permissions[role]
}

deny contains msg if {
	not allow
	msg := sprintf("subscriber %s with roles %v may not %s", [input.subscriber.id, input.subscriber.roles, input.action])
}
