package wechatsim

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// This file is an independent implementation of WeChat's message signature and
// safe-mode (AES) scheme, written from WeChat's documentation rather than from
// silenceper/wechat, so that it can check omo's silenceper-based webhook.

// blockSize is the PKCS#7 block size WeChat uses: 32 bytes, not AES's 16.
const blockSize = 32

// Signature returns WeChat's request signature: the hex SHA-1 of token,
// timestamp and nonce sorted as strings and concatenated.
func Signature(token, timestamp, nonce string) string {
	return sortedSHA1(token, timestamp, nonce)
}

// MsgSignature returns the safe-mode msg_signature: the hex SHA-1 of token,
// timestamp, nonce and the base64 Encrypt value, sorted and concatenated.
func MsgSignature(token, timestamp, nonce, encrypt string) string {
	return sortedSHA1(token, timestamp, nonce, encrypt)
}

func sortedSHA1(parts ...string) string {
	s := append([]string(nil), parts...)
	sort.Strings(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}

// equalSig compares two hex signatures in constant time.
func equalSig(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// aesKey decodes a 43-character EncodingAESKey into the 32-byte AES key.
func aesKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wechatsim: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		return nil, fmt.Errorf("wechatsim: EncodingAESKey is not base64: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("wechatsim: EncodingAESKey decodes to %d bytes, want 32", len(key))
	}
	return key, nil
}

// Encrypt returns the base64 Encrypt value WeChat would send for plaintext:
// AES-256-CBC (IV = first 16 key bytes) over random16 + 4-byte big-endian
// length + plaintext + appID, PKCS#7-padded to 32 bytes. random16 must be 16
// bytes; a bad key or random16 returns an error.
func Encrypt(encodingAESKey, appID string, random16 []byte, plaintext []byte) (string, error) {
	key, err := aesKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	if len(random16) != 16 {
		return "", fmt.Errorf("wechatsim: random must be 16 bytes, got %d", len(random16))
	}
	var buf bytes.Buffer
	buf.Write(random16)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(plaintext)))
	buf.Write(n[:])
	buf.Write(plaintext)
	buf.WriteString(appID)
	data := pkcs7Pad(buf.Bytes())

	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("wechatsim: %w", err)
	}
	out := make([]byte, len(data))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, data)
	return base64.StdEncoding.EncodeToString(out), nil
}

// Decrypt reverses Encrypt: it returns the plaintext and the appID found at
// its end. Bad base64, a bad length, bad padding or a length field that
// points past the data return an error.
func Decrypt(encodingAESKey, encrypted string) (plaintext []byte, appID string, err error) {
	key, err := aesKey(encodingAESKey)
	if err != nil {
		return nil, "", err
	}
	data, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, "", fmt.Errorf("wechatsim: encrypted text is not base64: %w", err)
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, "", fmt.Errorf("wechatsim: encrypted length %d is not a multiple of %d", len(data), aes.BlockSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", fmt.Errorf("wechatsim: %w", err)
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(out, data)
	out, err = pkcs7Unpad(out)
	if err != nil {
		return nil, "", err
	}
	if len(out) < 20 {
		return nil, "", errors.New("wechatsim: decrypted text too short")
	}
	n := binary.BigEndian.Uint32(out[16:20])
	if uint64(n) > uint64(len(out)-20) {
		return nil, "", fmt.Errorf("wechatsim: length field %d exceeds data", n)
	}
	return out[20 : 20+n], string(out[20+n:]), nil
}

func pkcs7Pad(b []byte) []byte {
	pad := blockSize - len(b)%blockSize
	return append(b, bytes.Repeat([]byte{byte(pad)}, pad)...)
}

func pkcs7Unpad(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("wechatsim: empty decrypted text")
	}
	pad := int(b[len(b)-1])
	if pad < 1 || pad > blockSize || pad > len(b) {
		return nil, fmt.Errorf("wechatsim: bad padding %d", pad)
	}
	for _, c := range b[len(b)-pad:] {
		if int(c) != pad {
			return nil, errors.New("wechatsim: bad padding bytes")
		}
	}
	return b[:len(b)-pad], nil
}
