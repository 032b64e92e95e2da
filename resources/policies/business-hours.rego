# Loads are allowed only on weekdays between 08:00 and 18:00 in Europe/Paris.
package modelvault

import rego.v1

default allow := false

zone := "Europe/Paris"

now := time.parse_rfc3339_ns(input.time)

local_hour := time.clock([now, zone])[0]

weekday := time.weekday([now, zone])

weekend := {"Saturday", "Sunday"}

in_business_hours if {
	not weekday in weekend
	local_hour >= 8
	local_hour < 18
}

allow if in_business_hours

deny contains msg if {
	not in_business_hours
	msg := sprintf("outside business hours (%s %02d:00 in %s)", [weekday, local_hour, zone])
}
