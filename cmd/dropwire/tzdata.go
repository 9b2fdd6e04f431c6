package main

// Campaign windows and node hours are written in IANA time zones; the
// binary carries the zone database so that a container without
// /usr/share/zoneinfo reads them the same.
import _ "time/tzdata"
