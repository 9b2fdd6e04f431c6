// Package schedule is the calendar arithmetic of campaigns and nodes:
// dated windows written in local time of an IANA time zone, a node's
// opening hours ("Mon-Fri 09:00-18:00" and dated pop-up windows), and a
// clock that counts open time only (a pickup deadline that never falls
// while a node is closed).
//
// Local times are turned into instants with the zone's rules of that day,
// so a window on the day a daylight-saving change happens has its true
// length. A local time that does not exist (in the hour a clock skips) is
// refused rather than guessed.
//
// Every value is immutable once parsed and safe for concurrent use.
package schedule
