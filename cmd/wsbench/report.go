package main

import (
	"fmt"
	"sort"
	"strings"
)

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// renderTable prints the report as a Markdown table: medians per target,
// then each goal with the measured ratio and whether it is met.
func renderTable(rows []*row) string {
	var b strings.Builder
	b.WriteString("\n| # | workload | metric | direct | wsedge | nginx | measured | target | met |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		if r.id == "7" {
			for _, name := range sortedKeys(r.values) {
				v := median(r.values[name])
				fmt.Fprintf(&b, "| 7 | %s (%s) | %s | | %.0f | | %.0f | <= 1 | %s |\n",
					r.workload, strings.TrimPrefix(name, "wsedge "), r.metric, v, v, yesNo(v <= 1))
			}
			continue
		}
		if len(r.goals) == 0 {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | | |\n", r.id, r.workload, r.metric,
				cell(r, "direct"), cell(r, "wsedge"), cell(r, "nginx"), ratioTo(r, "nginx"))
		}
		for _, g := range r.goals {
			measured, target, met := r.evaluate(g)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.id, r.workload, r.metric,
				cell(r, "direct"), cell(r, "wsedge"), cell(r, "nginx"), measured, target, met)
		}
	}
	return b.String()
}

func (r *row) evaluate(g goal) (measured, target, met string) {
	w := median(r.values["wsedge"])
	if len(r.values["wsedge"]) == 0 {
		return "-", "", "no data"
	}
	cmp := ">="
	if r.lowerIsBetter {
		cmp = "<="
	}
	if g.ref == "" {
		ok := w >= g.bound
		if r.lowerIsBetter {
			ok = w <= g.bound
		}
		return fmt.Sprintf("%.1f", w), fmt.Sprintf("%s %g", cmp, g.bound), yesNo(ok)
	}
	ref := median(r.values[g.ref])
	if ref == 0 {
		return "-", fmt.Sprintf("%s %gx %s", cmp, g.factor, g.ref), "no " + g.ref
	}
	ratio := w / ref
	ok := ratio >= g.factor
	if r.lowerIsBetter {
		ok = ratio <= g.factor
	}
	return fmt.Sprintf("%.2fx %s", ratio, g.ref), fmt.Sprintf("%s %gx %s", cmp, g.factor, g.ref), yesNo(ok)
}

func cell(r *row, target string) string {
	vs := r.values[target]
	if target == "direct" && len(vs) == 0 && r.values["wsedge-plain"] != nil {
		return fmt.Sprintf("(plain %s)", format(median(r.values["wsedge-plain"])))
	}
	if len(vs) == 0 {
		return ""
	}
	return format(median(vs))
}

func format(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func sortedKeys(m map[string][]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// failures lists the goals not met.
func failures(rows []*row) []string {
	var out []string
	for _, r := range rows {
		if r.id == "7" {
			for _, name := range sortedKeys(r.values) {
				if median(r.values[name]) > 1 {
					out = append(out, "7 ("+strings.TrimPrefix(name, "wsedge ")+")")
				}
			}
			continue
		}
		for _, g := range r.goals {
			if _, _, met := r.evaluate(g); met != "yes" {
				out = append(out, fmt.Sprintf("%s (%s vs %s)", r.id, r.metric, nameOf(g)))
			}
		}
	}
	return out
}

func nameOf(g goal) string {
	if g.ref == "" {
		return fmt.Sprintf("bound %g", g.bound)
	}
	return g.ref
}

// ratioTo is wsedge's median over ref's, for rows without a goal.
func ratioTo(r *row, ref string) string {
	w, x := median(r.values["wsedge"]), median(r.values[ref])
	if w == 0 || x == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx %s", w/x, ref)
}
