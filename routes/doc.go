// Package routes is wsedge's route table: each route matches a host
// (exact, *.wildcard or any) and an httprouter path pattern (/light/:status,
// /logs/*file) and points at an upstream.Target.
//
// A Table is immutable once built. The proxy holds the current one behind an
// atomic pointer, so a reload can swap in a new table while every live
// connection keeps the Route it was opened with.
package routes
