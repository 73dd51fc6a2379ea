package contracts

// ValidateUUID checks that id is a UUID in its canonical 36-character text form, the form
// of every id the PostgreSQL services issue. Checking it in a request's Validate keeps a
// caller's typo from reaching the database, where it would be an internal error (and an
// ERROR log line) instead of the caller's validation_failed.
func ValidateUUID(field, id string) error {
	if id == "" {
		return ErrValidation.OnField(field, "%s must not be empty", field)
	}
	if !IsUUID(id) {
		return ErrValidation.OnField(field, "%s must be a valid id", field)
	}
	return nil
}

// IsUUID reports whether id is a UUID in its canonical 36-character text form.
func IsUUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		dash := i == 8 || i == 13 || i == 18 || i == 23
		if dash != (c == '-') || (!dash && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
			return false
		}
	}
	return true
}
