package templates

import "github.com/a-h/templ"

// FormError is a refused form's error as the page shows it: Form names the
// form (on pages with several), Field the input at fault (empty when the
// error is about the whole form), Msg the reason in words.
type FormError struct {
	Form, Field, Msg string
}

// fieldLabels are the words for the fields a person types into, so an error
// names what they see on the page, not a form field's code name.
var fieldLabels = map[string]string{
	"project_ref":     "Project",
	"requester_email": "Requester email",
	"requested_at":    "State wanted as of",
	"requested_tz":    "Time zone",
	"scope":           "Scope",
	"tables":          "Tables",
	"mode":            "Mode",
	"snapshot_id":     "Snapshot",
	"target_ref":      "New project ref",
	"options":         "Options",
	"confirm_ref":     "Typed project ref",
	"plan_digest":     "Plan",
	"rollback_digest": "Rollback plan",
	"message":         "Message",
	"body":            "Note",
	"email":           "Email",
	"password":        "Password",
	"role":            "Role",
	"name":            "Name",
	"user_id":         "Assignee",
}

// FieldLabel is the words for a form field.
func FieldLabel(field string) string {
	if l, ok := fieldLabels[field]; ok {
		return l
	}
	return field
}

// Summary is the error's line at the top of the form: the field's label and
// the reason.
func (e FormError) Summary() string {
	if e.Field == "" {
		return e.Msg
	}
	return FieldLabel(e.Field) + ": " + e.Msg
}

// On says whether the error is about field of form.
func (e FormError) On(form, field string) bool {
	return e.Msg != "" && e.Field == field && (e.Form == "" || e.Form == form)
}

// In says whether the error belongs to form.
func (e FormError) In(form string) bool { return e.Msg != "" && (e.Form == "" || e.Form == form) }

// fieldAttrs marks the input of field invalid, ties it to its message and
// focuses it when the error is about it.
func fieldAttrs(e FormError, form, field string) templ.Attributes {
	if !e.On(form, field) {
		return templ.Attributes{}
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": "err-" + field, "autofocus": true}
}

func ticketFilter(id int64) string {
	if id == 0 {
		return ""
	}
	return itoa(id)
}
