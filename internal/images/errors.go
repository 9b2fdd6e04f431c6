package images

import "errors"

var (
	// ErrUnsupported is an upload that is not a PNG, JPEG, WebP or GIF
	// image, or whose bytes are not of the type it was declared as.
	ErrUnsupported = errors.New("images: not a PNG, JPEG, WebP or GIF image")
	// ErrTooLarge is an upload over MaxSize bytes or MaxPixels pixels.
	ErrTooLarge = errors.New("images: image too large")
	// ErrCorrupt is an upload whose header names a type the image data
	// does not decode as.
	ErrCorrupt = errors.New("images: image data does not decode")
)
