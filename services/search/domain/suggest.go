package domain

import "github.com/moa-run/moa/contracts"

// Suggestion is one suggested query, from the user's own history or from the popular counts.
type Suggestion struct {
	Query  string
	Source string // contracts.SuggestionRecent or contracts.SuggestionPopular
	Count  int64  // popularity in the window; 0 for recent ones
}

// MergeSuggestions lists the user's recent matches first (they are what this user is most
// likely to type again), then popular matches not already listed, up to limit.
func MergeSuggestions(recent []Recent, popular []Popular, limit int) []Suggestion {
	out := make([]Suggestion, 0, min(limit, len(recent)+len(popular)))
	seen := make(map[string]bool, len(recent))
	for _, r := range recent {
		if len(out) == limit {
			return out
		}
		if !seen[r.Query] {
			seen[r.Query] = true
			out = append(out, Suggestion{Query: r.Query, Source: contracts.SuggestionRecent})
		}
	}
	for _, p := range popular {
		if len(out) == limit {
			return out
		}
		if !seen[p.Query] {
			seen[p.Query] = true
			out = append(out, Suggestion{Query: p.Query, Source: contracts.SuggestionPopular, Count: p.Count})
		}
	}
	return out
}
