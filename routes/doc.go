// Package routes is wsedge's route table: each route matches a host
// (exact, *.wildcard or any) and an httprouter path pattern (/light/:status,
// /logs/*file) and says, in its upstream.Config, what it points at.
//
// A Table is a pure matcher: built from the configuration alone, immutable,
// it answers which route a request is for and with which parameters. The
// proxy builds what routes point at (pools, built-ins) and keeps them with
// the table in one runtime, which a reload replaces as a whole while every
// live connection keeps the route it was opened with.
package routes
