package conftypes

import "path/filepath"

// ResolvePath makes a relative file name from the configuration relative
// to dir, the configuration file's directory, so wsedge reads the same
// files whatever its working directory. Empty and absolute names are
// returned as they are.
func ResolvePath(dir, name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}
