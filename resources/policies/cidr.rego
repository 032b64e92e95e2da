# Only devices on the corporate networks may decrypt.
package modelvault

import rego.v1

default allow := false

corporate := ["10.0.0.0/8", "192.168.10.0/24", "2001:db8::/32"]

on_corporate_network if {
	some cidr in corporate
	net.cidr_contains(cidr, input.device.ip)
}

allow if on_corporate_network

deny contains "device has no IP address" if not input.device.ip

deny contains msg if {
	input.device.ip
	not on_corporate_network
	msg := sprintf("device IP %s is outside the corporate networks", [input.device.ip])
}
