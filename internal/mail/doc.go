// Package mail is the portal's email core: it reads support mail, works out
// what the requester asks for, threads replies, and writes the answers.
//
// It is a domain package: it imports no echo, templ or River code, touches
// no database and writes no files. The lead wires it to tickets.
//
// The parts, in the order a mail meets them:
//
//   - Intake. NewSMTPServer accepts mail for the configured support
//     addresses only and hands the raw bytes to a deliver callback, which
//     must store them before anything else happens; a deliver error becomes
//     an SMTP 451 so the sending server retries and nothing is lost. Mail
//     providers that post over HTTP sign the raw message with Sign; the
//     handler checks it with VerifySignature (headers X-Portal-Timestamp and
//     X-Portal-Signature).
//   - Parse turns raw bytes into a Message. It never loses data on a
//     malformed mail: it returns what it could read plus Problems that a
//     person can read, and errors only when there is nothing usable at all.
//     Auto-replies and bounces are flagged (IsAutomatic) so that the portal
//     records them but never answers them.
//   - StripQuoted removes quoted history and signatures from a body, keeping
//     forwarded content, which usually carries the request.
//   - Understand extracts the restore request (project ref, time, scope,
//     mode), each field with where it was found and how sure it is.
//   - SubjectTag, ParseSubjectTag and NewMessageID thread the conversation.
//   - Compose and the templates in templates.go write plain-text answers,
//     with times in the requester's zone and UTC beside; Send and SendWith
//     hand them to an SMTP relay over STARTTLS (when offered, or required)
//     with SMTP AUTH, never sending a password without TLS.
//   - ForwardedFrom finds the original sender of a forward;
//     ParseAuthResults reads the receiving server's SPF/DKIM/DMARC verdicts.
package mail
