// Package overlay serves the live QR overlay that creators add to OBS as a
// browser source: a WebSocket hub that pushes each creator's drop state to
// every overlay of that creator, on every replica, and the rotating claim
// codes the QR carries.
//
// # Fan-out
//
// A [Hub] holds one subscription per process to the store's pub/sub channel
// [verifier.StateChannel]. On each announcement it updates that drop's view
// (an opening or a claim carries its state; anything else is read back
// from the store), builds the creator's whole state message once, encodes
// it once and hands the same bytes to every overlay connection of that
// creator. Announcements that queued up while the hub was busy (a fan-out
// to many overlays, a claim rush) are taken together: each creator's
// state is then sent once, with all of them applied. Timers rebuild the state when the QR rotates,
// when a drop's window ends and when a closing message has been shown long
// enough; a periodic resync repairs anything pub/sub lost while Redis was
// unreachable.
//
// # Connections
//
// Each connection has one writer goroutine over a bounded queue of one
// state frame and one ping: a newer state replaces a queued one
// (conflation), so an overlay that falls behind gets the latest state, not
// a backlog. A frame is written at once when the connection is idle: by
// the broadcasting goroutine itself, in one non-blocking write, when the
// socket takes it whole; otherwise the writer finishes it. A write that
// does not finish within WriteTimeout drops the connection (counted as a
// slow client) without slowing anyone else: broadcasting never blocks on
// a connection. Reads are limited to a few hundred bytes;
// the server sends WebSocket pings and a {"type":"ping"} message every
// PingInterval and drops a peer that answers nothing within PongWait.
//
// # Messages
//
// The state message, protocol v2, is:
//
//	{"v":2,"type":"state","seq":N,"server_time":T,"status":"idle"|"open"|"sold_out"|"closed",
//	 "drop":{"id","title","opened_at":T},"closes_at":T,
//	 "stock":{"left":n,"total":n},"qr":{"size":n,"modules":"…","rotates_at":T}}
//
// Times (T) are Unix milliseconds, JSON numbers. drop, closes_at, stock
// and qr are null when status is idle; qr is null unless status is open.
//
// A state message may also carry "settings": the creator's overlay
// [Settings], only the fields that differ from their defaults (absent:
// every default). It was added to protocol v2 without changing its other
// fields, which a page that ignores it still reads; a change of settings
// alone sends a new state message, so every overlay applies it at once.
// Settings are stored per creator (SettingsKey) and announced on
// [verifier.StateChannel] ("@settings <creator>"), the path drop changes
// take; the periodic resync reads them again.
//
// qr is the claim QR, encoded here (error correction M) so that every
// replica and every overlay shows the same symbol, and drawn by the page
// from its modules: size is the symbol's side in modules (17 + 4 ×
// version, no quiet zone), and modules packs every module but the fixed
// patterns, row by row from the top, left to right, one bit each (1 dark),
// most significant bit first, the last byte padded with zeros, in base64
// (standard alphabet, padded). The fixed patterns, left out because every
// symbol of that size has them, are the three finder patterns with their
// separators (the 8×8 corners top left, top right and bottom left) and the
// two timing patterns (row 6 and column 6 between the corners, dark at even
// positions); see PackModules. The page adds the 4-module quiet zone. The
// claim URL is in the symbol only: QR.Text reads it back, as a phone does.
// With a version 3 symbol (a claim URL of up to 42 bytes) an open frame
// is 364 bytes plus the drop's id and title: 397 bytes on the wire for
// "sticker-spring", "Spring sticker pack" (protocol v1: 3,569).
//
// A frame is encoded once per change and the same bytes go to every
// overlay of the creator; it is never compressed.
//
// seq increases with every message a connection receives: it is
// max(previous seq of that creator + 1, server time in Unix milliseconds),
// so it is monotonic on one connection, and in practice across reconnects
// and replicas too (it follows the clock). Clients compare seq only within
// one connection.
//
// # Cost
//
// What the hub does for a creator follows the drops of that creator that
// can show: open, or ended less than Linger ago (the live index, see
// live.go), not the drops configured. Connecting the first overlay of a
// creator, the periodic resync, a publish and a code rotation read and
// scan those only. A QR code is encoded when it goes on screen, or shortly
// before its rotation for the drop on screen, once per process per code;
// never for a drop that is not open.
//
// # Origins
//
// OBS browser sources either send no Origin, "null" or a file:// origin
// (local file sources), or the origin of the page they loaded, which is
// this server. The WebSocket therefore accepts requests without Origin,
// with Origin "null" or file://, and with an Origin whose host is the
// request's Host or the host of public_url; any other web origin gets 403,
// so a page elsewhere cannot use an overlay key a viewer's browser got
// hold of. The overlay key is checked in constant time against each of the
// creator's keys; a wrong key and an unknown creator get the same 401.
//
// # Concurrency
//
// Hub, Codes and their handlers are safe for concurrent use. Hub.Shutdown
// is idempotent: it closes every socket and waits for every goroutine the
// Hub started.
package overlay
