package admin

import "errors"

var (
	// ErrUnknownDrop: no drop with this id in the catalog.
	ErrUnknownDrop = errors.New("admin: unknown drop")
	// ErrDropExists: a drop with this id exists already.
	ErrDropExists = errors.New("admin: drop exists")
	// ErrInvalidDrop: the drop definition does not validate.
	ErrInvalidDrop = errors.New("admin: invalid drop")
	// ErrUnknownCreator: no creator with this id.
	ErrUnknownCreator = errors.New("admin: unknown creator")
	// ErrNoSigningSource: the creator has no source whose secret can sign
	// a test trigger (standard or jwt with a secret).
	ErrNoSigningSource = errors.New("admin: no source to sign a test trigger with")
	// ErrDropLive: a real drop of the creator is open (sold out included)
	// and would share the stream with the test; see LiveError.
	ErrDropLive = errors.New("admin: a real drop is live")
	// ErrConfigDrop: the drop is defined in the configuration file, which
	// the API cannot change.
	ErrConfigDrop = errors.New("admin: drop of the configuration file")
	// ErrDropOpened: a real drop that has opened cannot be deleted (its
	// claims are real).
	ErrDropOpened = errors.New("admin: drop has opened")
)
