package bus

import "encoding/json"

// A tiny JSON scanner for the required-field check: it finds the members of an object without
// decoding their values, so a strict request decode costs one parse instead of two. It is
// lenient by design: anything it cannot make sense of is left to encoding/json, which reports
// the error precisely.

type member struct {
	key []byte // raw key bytes, or the unquoted key when it had escapes
	val []byte
}

// members returns the members of the JSON object in data, or ok=false if data is not a
// well-formed object at its top level.
func members(data []byte) (out []member, ok bool) {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil, true
	}
	out = make([]member, 0, 8)
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, false
		}
		end, escaped := scanString(data, i)
		if end < 0 {
			return nil, false
		}
		key := data[i+1 : end-1]
		if escaped {
			var k string
			if json.Unmarshal(data[i:end], &k) != nil {
				return nil, false
			}
			key = []byte(k)
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipWS(data, i+1)
		vend := skipValue(data, i)
		if vend < 0 {
			return nil, false
		}
		out = append(out, member{key: key, val: data[i:vend]})
		i = skipWS(data, vend)
		if i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			return out, true
		default:
			return nil, false
		}
	}
}

// elements returns the elements of the JSON array in data (nil if it is not one).
func elements(data []byte) [][]byte {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil
	}
	var out [][]byte
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		return nil
	}
	for i < len(data) {
		end := skipValue(data, i)
		if end < 0 {
			return nil
		}
		out = append(out, data[i:end])
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ',' {
			break
		}
		i = skipWS(data, i+1)
	}
	return out
}

func lookup(ms []member, key string) ([]byte, bool) {
	// The last occurrence wins, as in encoding/json.
	for i := len(ms) - 1; i >= 0; i-- {
		if string(ms[i].key) == key {
			return ms[i].val, true
		}
	}
	return nil, false
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString returns the index after the closing quote of the string starting at data[i], and
// whether it contains escapes; -1 if it is unterminated.
func scanString(data []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, false
}

// skipValue returns the index after the JSON value starting at data[i], or -1.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		end, _ := scanString(data, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, _ := scanString(data, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(data) {
			switch data[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j
			}
			j++
		}
		return j
	}
}
