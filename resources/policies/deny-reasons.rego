# A typical access policy: RBAC, a time window, CIDR ranges and a licence, with every failed check reported.
package modelvault

import rego.v1

default allow := false

now := time.parse_rfc3339_ns(input.time)

allowed_roles := {"analyst", "admin"}

networks := ["10.0.0.0/8", "172.16.0.0/12"]

sensitive_tensors := {t | some t in input.model.tensors; startswith(t, "lm_head")}

deny contains "subscriber has no role allowed to use this model" if {
	count({r | some r in input.subscriber.roles; r in allowed_roles}) == 0
}

deny contains msg if {
	input.action == "export"
	not "admin" in input.subscriber.roles
	msg := "only admins may export"
}

deny contains msg if {
	ip := object.get(input, ["device", "ip"], "")
	not cidr_ok(ip)
	msg := sprintf("device IP %q is not on an allowed network", [ip])
}

cidr_ok(ip) if {
	some cidr in networks
	net.cidr_contains(cidr, ip)
}

deny contains msg if {
	[hour, _, _] := time.clock([now, "UTC"])
	not hour_ok(hour)
	msg := sprintf("requests are accepted between 06:00 and 22:00 UTC, not at %02d:00", [hour])
}

hour_ok(h) if {
	h >= 6
	h < 22
}

deny contains msg if {
	exp := time.parse_rfc3339_ns(input.licence.expires_at)
	now >= exp
	msg := sprintf("licence %s has expired", [input.licence.id])
}

deny contains msg if {
	count(sensitive_tensors) > 0
	not input.subscriber.attributes.clearance == "high"
	msg := sprintf("tensors %v need clearance high", [sort([t | some t in sensitive_tensors])])
}

allow if count(deny) == 0
