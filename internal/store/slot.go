package store

import "strings"

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// KeySlot returns the Redis Cluster hash slot of a full (prefixed) key, as
// CLUSTER KEYSLOT computes it: the CRC16 of the key's hash tag (what lies
// between its first "{" and the next "}", when that is not empty), else of
// the whole key, modulo 16384. Keys of one slot are what one script or
// multi-key command may touch on a cluster.
func KeySlot(key string) int {
	return int(crc16(hashTag(key)) % Slots)
}

// hashTag returns the part of key that decides its slot.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), Redis Cluster's.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
