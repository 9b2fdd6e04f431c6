package overlay

import (
	"math/bits"
	"strings"
)

// A QR encoder for what overlays show: error correction M, versions 1 to
// 10 (a claim URL of up to 213 bytes; public_url with a code is version 3
// or 4), in byte mode, with a tail of alphanumeric characters (the
// uppercase code) in alphanumeric mode when that is shorter, as go-qrcode
// would. go-qrcode, which encodes anything else here,
// takes ~0.5 ms and 140 KB of garbage per symbol, most of it in
// Reed-Solomon arithmetic on slices and in building a whole symbol per
// mask; a drop's code is encoded on the path from its opening to its first
// frame, and every open drop's code again at each rotation. This one takes
// a few tens of microseconds. It follows ISO/IEC 18004:2015 (structure,
// Reed-Solomon over GF(256) with 0x11D, BCH format and version
// information, the eight masks and the four penalty rules); the tests check
// each symbol with a decoder.

// qrBlocks is, for a version at level M, the EC codewords per block and
// the blocks of each of the two groups with their data codewords.
type qrBlocks struct {
	ec             int
	n1, d1, n2, d2 int
}

// qrLevelM holds versions 1 to 10 (index version-1).
var qrLevelM = [...]qrBlocks{
	{10, 1, 16, 0, 0}, {16, 1, 28, 0, 0}, {26, 1, 44, 0, 0}, {18, 2, 32, 0, 0}, {24, 2, 43, 0, 0},
	{16, 4, 27, 0, 0}, {18, 4, 31, 0, 0}, {22, 2, 38, 2, 39}, {22, 3, 36, 2, 37}, {26, 4, 43, 1, 44},
}

// GF(256) with the QR polynomial x⁸+x⁴+x³+x²+1.
var gfExp, gfLog = func() (exp [512]byte, log [256]byte) {
	x := 1
	for i := range 255 {
		exp[i] = byte(x)
		log[x] = byte(i)
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11D
		}
	}
	for i := 255; i < 512; i++ {
		exp[i] = exp[i-255]
	}
	return exp, log
}()

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

// rsDivisor returns the generator polynomial of degree n, highest
// coefficient (1) left out, highest first.
func rsDivisor(n int) []byte {
	g := make([]byte, n)
	g[n-1] = 1
	root := byte(1)
	for range n {
		for j := range g {
			g[j] = gfMul(g[j], root)
			if j+1 < n {
				g[j] ^= g[j+1]
			}
		}
		root = gfMul(root, 2)
	}
	return g
}

// rsRemainder returns the n EC codewords of data.
func rsRemainder(data, divisor []byte) []byte {
	r := make([]byte, len(divisor))
	for _, b := range data {
		f := b ^ r[0]
		copy(r, r[1:])
		r[len(r)-1] = 0
		for i, c := range divisor {
			r[i] ^= gfMul(c, f)
		}
	}
	return r
}

// qrAlignment returns the centres of the alignment patterns of version.
func qrAlignment(version int) []int {
	if version == 1 {
		return nil
	}
	n := version/7 + 2
	size := 17 + 4*version
	step := (version*8 + n*3 + 5) / (n*4 - 4) * 2
	pos := make([]int, n)
	pos[0] = 6
	for i, p := n-1, size-7; i >= 1; i, p = i-1, p-step {
		pos[i] = p
	}
	return pos
}

// qrSymbol is a symbol being built: modules, and which are function
// patterns (not data, not masked).
type qrGrid struct {
	n        int
	dark     []bool
	function []bool
}

func (g *qrGrid) set(r, c int, dark bool) {
	g.dark[r*g.n+c] = dark
	g.function[r*g.n+c] = true
}

func (g *qrGrid) finder(r0, c0 int) {
	for dr := -1; dr <= 7; dr++ {
		for dc := -1; dc <= 7; dc++ {
			r, c := r0+dr, c0+dc
			if r < 0 || r >= g.n || c < 0 || c >= g.n {
				continue
			}
			d := max(abs(dr-3), abs(dc-3))
			g.set(r, c, d != 2 && d != 4)
		}
	}
}

// format draws the format information of mask at level M.
func (g *qrGrid) format(mask int) {
	data := mask // level M is 00
	rem := data
	for range 10 {
		rem = rem<<1 ^ (rem>>9)*0x537
	}
	bits := (data<<10 | rem) ^ 0x5412
	bit := func(i int) bool { return bits>>i&1 != 0 }
	n := g.n
	for i := range 6 {
		g.set(i, 8, bit(i))
	}
	g.set(7, 8, bit(6))
	g.set(8, 8, bit(7))
	g.set(8, 7, bit(8))
	for i := 9; i < 15; i++ {
		g.set(8, 14-i, bit(i))
	}
	for i := range 8 {
		g.set(8, n-1-i, bit(i))
	}
	for i := 8; i < 15; i++ {
		g.set(n-15+i, 8, bit(i))
	}
	g.set(n-8, 8, true) // the dark module
}

// qrAlnum is the alphanumeric mode's character set, in code order.
const qrAlnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// qrSegments returns how content is cut for version: the first head
// bytes in byte mode, the rest (alphanumeric characters) in alphanumeric
// mode, whichever cut takes fewest bits; and those bits.
func qrSegments(content []byte, tail, version int) (head, nbits int) {
	countByte, countAlnum := 8, 9
	if version >= 10 {
		countByte, countAlnum = 16, 11
	}
	byteBits := func(k int) int {
		if k == 0 {
			return 0
		}
		if k >= 1<<countByte {
			return 1 << 20 // does not fit
		}
		return 4 + countByte + 8*k
	}
	alnumBits := func(k int) int {
		if k == 0 {
			return 0
		}
		if k >= 1<<countAlnum {
			return 1 << 20
		}
		return 4 + countAlnum + 11*(k/2) + 6*(k%2)
	}
	head, nbits = len(content), byteBits(len(content))
	if tail > 0 {
		if b := byteBits(len(content)-tail) + alnumBits(tail); b < nbits {
			head, nbits = len(content)-tail, b
		}
	}
	return head, nbits
}

// encodeQR encodes content at level M; ok is false when it needs more
// than version 10.
func encodeQR(content []byte) (bm [][]bool, version int, ok bool) {
	tail := 0 // alphanumeric characters at the end
	for tail < len(content) && strings.IndexByte(qrAlnum, content[len(content)-1-tail]) >= 0 {
		tail++
	}
	var b qrBlocks
	head := 0
	for v := 1; v <= len(qrLevelM); v++ {
		b = qrLevelM[v-1]
		h, nbits := qrSegments(content, tail, v)
		if nbits <= 8*(b.n1*b.d1+b.n2*b.d2) {
			version, head = v, h
			break
		}
	}
	if version == 0 {
		return nil, 0, false
	}

	// Data codewords: mode, count, bytes, terminator, padding.
	capacity := b.n1*b.d1 + b.n2*b.d2
	data := make([]byte, 0, capacity)
	var acc uint64
	nbits := 0
	put := func(v uint64, n int) {
		acc = acc<<n | v
		nbits += n
		for nbits >= 8 {
			data = append(data, byte(acc>>(nbits-8)))
			nbits -= 8
		}
	}
	if head > 0 {
		put(0b0100, 4)
		if version >= 10 {
			put(uint64(head), 16)
		} else {
			put(uint64(head), 8)
		}
		for _, c := range content[:head] {
			put(uint64(c), 8)
		}
	}
	if rest := content[head:]; len(rest) > 0 {
		put(0b0010, 4)
		if version >= 10 {
			put(uint64(len(rest)), 11)
		} else {
			put(uint64(len(rest)), 9)
		}
		for i := 0; i+1 < len(rest); i += 2 {
			put(uint64(45*strings.IndexByte(qrAlnum, rest[i])+strings.IndexByte(qrAlnum, rest[i+1])), 11)
		}
		if len(rest)%2 == 1 {
			put(uint64(strings.IndexByte(qrAlnum, rest[len(rest)-1])), 6)
		}
	}
	put(0, min(4, 8*capacity-8*len(data)-nbits))
	if nbits > 0 {
		put(0, 8-nbits)
	}
	for pad := byte(0xEC); len(data) < capacity; pad ^= 0xEC ^ 0x11 {
		data = append(data, pad)
	}

	// Blocks, their EC codewords, interleaved.
	div := rsDivisor(b.ec)
	var blocks, ecs [][]byte
	off := 0
	for i := range b.n1 + b.n2 {
		d := b.d1
		if i >= b.n1 {
			d = b.d2
		}
		blocks = append(blocks, data[off:off+d])
		ecs = append(ecs, rsRemainder(data[off:off+d], div))
		off += d
	}
	codewords := make([]byte, 0, capacity+b.ec*len(blocks))
	for i := range max(b.d1, b.d2) {
		for _, blk := range blocks {
			if i < len(blk) {
				codewords = append(codewords, blk[i])
			}
		}
	}
	for i := range b.ec {
		for _, ec := range ecs {
			codewords = append(codewords, ec[i])
		}
	}

	// Function patterns.
	n := 17 + 4*version
	g := &qrGrid{n: n, dark: make([]bool, n*n), function: make([]bool, n*n)}
	for i := range n {
		g.set(6, i, i%2 == 0)
		g.set(i, 6, i%2 == 0)
	}
	g.finder(0, 0)
	g.finder(0, n-7)
	g.finder(n-7, 0)
	al := qrAlignment(version)
	for i, r := range al {
		for j, c := range al {
			if i == 0 && j == 0 || i == 0 && j == len(al)-1 || i == len(al)-1 && j == 0 {
				continue // a finder's corner
			}
			for dr := -2; dr <= 2; dr++ {
				for dc := -2; dc <= 2; dc++ {
					g.set(r+dr, c+dc, max(abs(dr), abs(dc)) != 1)
				}
			}
		}
	}
	if version >= 7 {
		rem := version
		for range 12 {
			rem = rem<<1 ^ (rem>>11)*0x1F25
		}
		bits := version<<12 | rem
		for i := range 18 {
			dark := bits>>i&1 != 0
			a, c := n-11+i%3, i/3
			g.set(a, c, dark)
			g.set(c, a, dark)
		}
	}
	g.format(0) // reserves the format areas; drawn again per mask

	// Data, in two-column zigzags from the bottom right.
	k := 0
	for right := n - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		for vert := range n {
			for j := range 2 {
				c := right - j
				r := vert
				if (right+1)&2 == 0 {
					r = n - 1 - vert
				}
				if g.function[r*n+c] || k >= 8*len(codewords) {
					continue
				}
				g.dark[r*n+c] = codewords[k>>3]>>(7-k&7)&1 != 0
				k++
			}
		}
	}

	// The mask with the lowest penalty, the first on a tie.
	best, bestScore := 0, -1
	masked := make([]bool, n*n)
	for mask := range 8 {
		applyMask(g, masked, mask)
		if s := qrPenalty(masked, n); bestScore < 0 || s < bestScore {
			best, bestScore = mask, s
		}
	}
	applyMask(g, masked, best)
	bm = make([][]bool, n)
	for r := range bm {
		bm[r] = masked[r*n : (r+1)*n : (r+1)*n]
	}
	return bm, version, true
}

// applyMask writes into out g's modules with mask applied to the data
// and its format information drawn.
func applyMask(g *qrGrid, out []bool, mask int) {
	g.format(mask)
	n := g.n
	for r := range n {
		for c := range n {
			i := r*n + c
			if g.function[i] {
				out[i] = g.dark[i]
				continue
			}
			var flip bool
			switch mask {
			case 0:
				flip = (r+c)%2 == 0
			case 1:
				flip = r%2 == 0
			case 2:
				flip = c%3 == 0
			case 3:
				flip = (r+c)%3 == 0
			case 4:
				flip = (r/2+c/3)%2 == 0
			case 5:
				flip = r*c%2+r*c%3 == 0
			case 6:
				flip = (r*c%2+r*c%3)%2 == 0
			default:
				flip = ((r+c)%2+r*c%3)%2 == 0
			}
			out[i] = g.dark[i] != flip
		}
	}
}

// qrPenalty scores a masked symbol by the four rules of ISO/IEC 18004
// §7.8.3: runs of five or more, 2×2 blocks, finder-like patterns
// (1:1:3:1:1 with four light modules on a side, outside the symbol
// counting as light) and the balance of dark and light. Rows and columns
// are bit sets (n ≤ 57 for version 10), bit c for column c.
func qrPenalty(m []bool, n int) int {
	var rows, cols [57]uint64
	for r := range n {
		for c := range n {
			if m[r*n+c] {
				rows[r] |= 1 << c
				cols[c] |= 1 << r
			}
		}
	}
	all := uint64(1)<<n - 1
	score, dark := 0, 0
	for _, lines := range [][57]uint64{rows, cols} {
		for i := range n {
			line := lines[i]
			dark += bits.OnesCount64(line)
			// Runs of five or more of one colour: between changes of
			// colour (bit c set where c and c+1 differ), and the ends.
			change := (line ^ line>>1) & (all >> 1)
			from := 0
			for change != 0 {
				c := bits.TrailingZeros64(change)
				if run := c + 1 - from; run >= 5 {
					score += 3 + run - 5
				}
				from = c + 1
				change &= change - 1
			}
			if run := n - from; run >= 5 {
				score += 3 + run - 5
			}
			// Finder-like patterns, 1011101 starting at c, with four
			// light modules before (c-4..c-1) or after (c+7..c+10);
			// outside the symbol is light.
			light := ^line
			match := line & (light >> 1) & (line >> 2) & (line >> 3) & (line >> 4) & (light >> 5) & (line >> 6) & (all >> 6)
			before := (light<<1 | 1) & (light<<2 | 3) & (light<<3 | 7) & (light<<4 | 15)
			after := (light >> 7) & (light >> 8) & (light >> 9) & (light >> 10)
			score += 40 * bits.OnesCount64(match&(before|after))
		}
	}
	dark /= 2 // counted by rows and by columns
	// 2×2 blocks of one colour.
	for r := 0; r+1 < n; r++ {
		same := ^(rows[r] ^ rows[r+1]) & all // columns where r and r+1 agree
		h := ^(rows[r] ^ rows[r]>>1) & same & (same >> 1) & (all >> 1)
		score += 3 * bits.OnesCount64(h)
	}
	total := n * n
	k := (abs(dark*20-total*10)+total-1)/total - 1
	return score + max(k, 0)*10
}
