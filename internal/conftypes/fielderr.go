package conftypes

import (
	"errors"
	"strings"
)

// FieldError is a configuration error at a field path such as
// "routes[2].backend". Validate methods return them (joined with
// errors.Join) so that the loader, which alone knows the YAML document,
// can turn each path into a file and line.
type FieldError struct {
	// Path locates the field from the top of the file, dot-separated, with
	// list indexes in brackets. Empty means the whole document.
	Path string
	// Related names other fields the error involves (the earlier of two
	// conflicting routes, say); the loader reports their lines too.
	Related []string
	// Err says what is wrong.
	Err error
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Field returns err as a FieldError at path, or nil if err is nil.
func Field(path string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Path: path, Err: err}
}

// Under re-roots every error in err (a single error or an errors.Join of
// them) below prefix: a FieldError at "backend" under "routes[2]" becomes
// one at "routes[2].backend"; a plain error becomes a FieldError at prefix.
func Under(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range Flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			related := make([]string, len(fe.Related))
			for i, r := range fe.Related {
				related[i] = join(prefix, r)
			}
			out = append(out, &FieldError{Path: join(prefix, fe.Path), Related: related, Err: fe.Err})
			continue
		}
		out = append(out, &FieldError{Path: prefix, Err: e})
	}
	return errors.Join(out...)
}

// Flatten lists the individual errors inside nested errors.Join values.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}
