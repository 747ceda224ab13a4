package upstream

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/wsedge/wsedge/internal/conftypes"
)

// Config is the part of a route that says where its requests go. It is
// inlined into each entry of the YAML routes list. Exactly one of Backend
// and Handler is set.
type Config struct {
	// Backend is a ws:// or wss:// URL template; {name} in its path is
	// replaced by the route parameter of that name. Plain HTTP requests on
	// the route go to the same URL over http:// or https://.
	Backend string `yaml:"backend"`
	// Handler names a built-in handler instead: echo, broadcast or demo.
	Handler string `yaml:"handler"`
}

// handlerFactories build the built-in handlers, by the name a route uses.
var handlerFactories = map[string]func(Config, Env) (*Target, error){
	"echo":      func(_ Config, env Env) (*Target, error) { return &Target{Handler: newEcho(env)}, nil },
	"broadcast": func(_ Config, env Env) (*Target, error) { return &Target{Handler: newBroadcast(env)}, nil },
	"demo":      func(Config, Env) (*Target, error) { return &Target{Page: newDemoPage()}, nil },
}

// HandlerNames lists the built-in handler names, sorted.
func HandlerNames() []string {
	names := make([]string, 0, len(handlerFactories))
	for n := range handlerFactories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks the section on its own; routes checks it against the
// route's path (Params).
func (c *Config) Validate() error {
	switch {
	case c.Backend == "" && c.Handler == "":
		return conftypes.Field("", errors.New("set one of backend or handler"))
	case c.Backend != "" && c.Handler != "":
		return conftypes.Field("", errors.New("set only one of backend or handler, not both"))
	case c.Backend != "":
		if _, err := ParseURLTemplate(c.Backend); err != nil {
			return conftypes.Field("backend", err)
		}
	default:
		if _, ok := handlerFactories[c.Handler]; !ok {
			return conftypes.Field("handler", fmt.Errorf("unknown handler %q: want one of %s", c.Handler, strings.Join(HandlerNames(), ", ")))
		}
	}
	return nil
}

// Params lists, per field, the placeholder names the section's templates
// use, so routes can check each is defined by the route's path.
func (c *Config) Params() map[string][]string {
	t, err := ParseURLTemplate(c.Backend)
	if c.Backend == "" || err != nil {
		return nil
	}
	return map[string][]string{"backend": slices.Clone(t.Params())}
}
