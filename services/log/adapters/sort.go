package adapters

import (
	"sort"

	"github.com/moa-run/moa/services/log/app"
)

// sortReferrers orders referrers by views, most first, ties by host.
func sortReferrers(rs []app.Referrer) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Views != rs[j].Views {
			return rs[i].Views > rs[j].Views
		}
		return rs[i].Host < rs[j].Host
	})
}
