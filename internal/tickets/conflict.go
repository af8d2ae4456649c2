package tickets

// ConflictError is a refusal that names a field but is a conflict of state,
// not a wrong value: the form is fine, the ticket is not where it can take
// it (saving the triage while approval is pending). It is a
// *ValidationError to errors.As (field and message) and ErrConflict to
// errors.Is, so the web answers 409 with the message.
type ConflictError struct{ *ValidationError }

// Unwrap gives the ValidationError.
func (e *ConflictError) Unwrap() error { return e.ValidationError }

// Is makes the error ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
