// Package fakesvc plays pagebff's downstream services — User, Catalog and
// Activity — with realistic data and a little latency. `bff --demo` runs one
// of each in-process so a newcomer sees a full page with one command.
package fakesvc
