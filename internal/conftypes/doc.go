// Package conftypes holds the value types shared by every package's YAML
// configuration section: durations and byte sizes that decode from
// human-readable strings, and FieldError, which lets a section's Validate
// name the field at fault so the loader can point at its file and line.
//
// It is a leaf package: it imports nothing from wsedge, so proxy, routes,
// upstream and tlsconf can all use it without bending the dependency
// direction (upstream ← routes ← proxy; tlsconf alone).
package conftypes
