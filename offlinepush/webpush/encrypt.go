package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// The aes128gcm header (RFC 8188 section 2.1) as RFC 8291 section 4 fills
// it: salt, record size, and the sender's public key as the key id.
const (
	saltLen      = 16
	pointLen     = 65 // an uncompressed P-256 point
	headerLen    = saltLen + 4 + 1 + pointLen
	tagLen       = 16 // AES-GCM tag
	delimiterLen = 1  // 0x02: the last (and only) record's padding delimiter
	// overhead is what encryption adds to the plaintext.
	overhead = headerLen + delimiterLen + tagLen
	// recordSize is the rs header field. RFC 8291 section 4 wants it larger
	// than the one record; every body we send is at most 4096 bytes, so
	// 4096 always is, and it is the value RFC 8291's own example uses.
	recordSize = 4096
)

// encrypt seals plaintext for one subscription (RFC 8291 section 3, RFC
// 8188 aes128gcm) with a fresh sender key pair and salt: the request body.
func encrypt(plaintext []byte, uaPublic *ecdh.PublicKey, authSecret []byte) ([]byte, error) {
	asPrivate, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, saltLen)
	rand.Read(salt) // never returns an error since Go 1.24
	return encryptWith(plaintext, uaPublic, authSecret, asPrivate, salt)
}

// encryptWith is encrypt with the sender key and salt given, so that RFC
// 8291's example can be reproduced byte for byte.
func encryptWith(plaintext []byte, uaPublic *ecdh.PublicKey, authSecret []byte, asPrivate *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	ecdhSecret, err := asPrivate.ECDH(uaPublic)
	if err != nil {
		return nil, fmt.Errorf("webpush: ecdh: %w", err)
	}
	asPublic := asPrivate.PublicKey().Bytes()

	// RFC 8291 section 3.4: the auth secret salts the key combining step,
	// binding both public keys into IKM.
	keyInfo := "WebPush: info\x00" + string(uaPublic.Bytes()) + string(asPublic)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, authSecret, keyInfo, 32)
	if err != nil {
		return nil, err
	}
	// RFC 8188 section 2.2 and 2.3: the content encryption key and nonce.
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	out := make([]byte, headerLen, headerLen+len(plaintext)+delimiterLen+tagLen)
	copy(out, salt)
	binary.BigEndian.PutUint32(out[saltLen:], recordSize)
	out[saltLen+4] = pointLen
	copy(out[saltLen+5:], asPublic)

	// One record, sequence number 0, so the nonce is used as derived. No
	// padding beyond the delimiter: padding every push to 4096 bytes is
	// what makes some bridged push services answer 413 (see doc.go).
	record := make([]byte, 0, len(plaintext)+delimiterLen)
	record = append(record, plaintext...)
	record = append(record, 0x02)
	return gcm.Seal(out, nonce, record, nil), nil
}
