#!/usr/bin/env python3
"""aegis-image end to end: every MCUboot fixture gives its README verdict through the CLI, images
the tool signs verify (and match imgtool's bytes where signatures are deterministic), and each
kind of bad input is refused with its own error name and exit status 1."""

import argparse
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import unittest

ARGS = None

V123_SHA = "57758661b9c95ae7ab3398871be923da502221d6bf817f0591e104e5f81b3599"
V200_SHA = "c9ca61754485b4a59608242226972d37876b1b0f1b41dc9bebb9a7c80477ac69"
VALID = [
    ("img-ecdsa-p256-v1.2.3.bin", "pub-ecdsa-p256.pem", "1.2.3+4", "none", V123_SHA),
    ("img-ed25519-v1.2.3.bin", "pub-ed25519.pem", "1.2.3+4", "none", V123_SHA),
    ("img-rsa2048-v1.2.3.bin", "pub-rsa-2048.pem", "1.2.3+4", "none", V123_SHA),
    ("img-ecdsa-p256-v2.0.0-seccnt7.bin", "pub-ecdsa-p256.pem", "2.0.0+0", "7", V200_SHA),
    ("img-ecdsa-p256-v2.0.0-seccnt7-padded-confirmed.bin", "pub-ecdsa-p256.pem", "2.0.0+0", "7",
     V200_SHA),
]
PUBS = ["pub-ecdsa-p256.pem", "pub-ed25519.pem", "pub-rsa-2048.pem"]


def fx(name):
    return os.path.join(ARGS.fixtures, name)


def run(*args):
    p = subprocess.run([ARGS.aegis_image, *args], capture_output=True, text=True, timeout=120)
    # Under the sanitizer preset a report exits 1 like a refusal would: never let it pass.
    if "Sanitizer" in p.stderr or "runtime error:" in p.stderr:
        raise AssertionError("sanitizer report from %s:\n%s" % (args, p.stderr))
    return p.returncode, p.stdout, p.stderr


class Fixtures(unittest.TestCase):
    def test_valid_images_verify_with_their_own_key(self):
        for image, key, version, counter, sha in VALID:
            with self.subTest(image=image):
                rc, out, err = run("verify", "-k", fx(key), fx(image))
                self.assertEqual(rc, 0, err)
                self.assertIn("Image was correctly validated", out)
                self.assertIn("Image version: " + version, out)
                self.assertIn("Security counter: " + counter, out)
                self.assertIn("Image digest: " + sha, out)

    def test_valid_images_fail_with_every_other_key(self):
        for image, key, *_ in VALID:
            for other in PUBS:
                if other == key:
                    continue
                with self.subTest(image=image, key=other):
                    rc, _, err = run("verify", "-k", fx(other), fx(image))
                    self.assertEqual(rc, 1)
                    self.assertIn("unknown_key", err)

    def test_private_key_files_work_as_trusted_keys(self):
        rc, _, err = run("verify", "-k", fx("key-ed25519.pem"), fx("img-ed25519-v1.2.3.bin"))
        self.assertEqual(rc, 0, err)

    def test_bad_fixtures_fail_the_hash(self):
        for image in ["bad-payload-flipped.bin", "bad-header-version.bin"]:
            with self.subTest(image=image):
                rc, out, err = run("verify", "-k", fx("pub-ecdsa-p256.pem"), fx(image))
                self.assertEqual(rc, 1)
                self.assertIn("hash_mismatch", err)
                self.assertIn("Image verification failed", out)

    def test_padded_image_fits_its_slot(self):
        image = fx("img-ecdsa-p256-v2.0.0-seccnt7-padded-confirmed.bin")
        rc, _, err = run("verify", "-k", fx("pub-ecdsa-p256.pem"), "-S", "0x2000", "--align", "8",
                         image)
        self.assertEqual(rc, 0, err)
        rc, out, _ = run("dump", image)
        self.assertEqual(rc, 0)
        self.assertIn("magic good, image_ok set, copy_done unset", out)
        self.assertIn("SEC_CNT (0x50) len 4: 7", out)


class Signing(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="aegis-image-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_ed25519_is_byte_identical_to_imgtool(self):
        out = self.path("ed.bin")
        rc, _, err = run("sign", "-k", fx("key-ed25519.pem"), "-H", "0x200", "--pad-header",
                         "--align", "8", "-v", "1.2.3+4", fx("payload.bin"), out)
        self.assertEqual(rc, 0, err)
        with open(out, "rb") as a, open(fx("img-ed25519-v1.2.3.bin"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_ecdsa_and_rsa_match_imgtool_up_to_the_signature(self):
        for key, ref in [("key-ecdsa-p256.pem", "img-ecdsa-p256-v1.2.3.bin"),
                         ("key-rsa-2048.pem", "img-rsa2048-v1.2.3.bin")]:
            with self.subTest(key=key):
                out = self.path("s.bin")
                rc, _, err = run("sign", "-k", fx(key), "-H", "0x200", "--pad-header", "--align",
                                 "8", "-v", "1.2.3+4", fx("payload.bin"), out)
                self.assertEqual(rc, 0, err)
                with open(out, "rb") as a, open(fx(ref), "rb") as b:
                    mine, theirs = a.read(), b.read()
                # Header, payload, and the SHA256 and KEYHASH TLVs (0x1204..0x124c).
                self.assertEqual(mine[:0x1200], theirs[:0x1200])
                self.assertEqual(mine[0x1204:0x124e], theirs[0x1204:0x124e])
                rc, out_text, err = run("verify", "-k", fx(key), out)
                self.assertEqual(rc, 0, err)
                self.assertIn(V123_SHA, out_text)

    def test_padded_confirmed_matches_imgtool_trailer(self):
        out = self.path("p.bin")
        rc, _, err = run("sign", "-k", fx("key-ecdsa-p256.pem"), "-H", "0x200", "--pad-header",
                         "--align", "8", "-v", "2.0.0", "-s", "7", "--pad", "--confirm", "-S",
                         "0x2000", fx("payload.bin"), out)
        self.assertEqual(rc, 0, err)
        with open(out, "rb") as a, open(
                fx("img-ecdsa-p256-v2.0.0-seccnt7-padded-confirmed.bin"), "rb") as b:
            mine, theirs = a.read(), b.read()
        self.assertEqual(len(mine), 0x2000)
        # All but the signature and the unprotected area total (ECDSA DER length varies).
        self.assertEqual(mine[:0x120e], theirs[:0x120e])
        self.assertEqual(mine[0x1210:0x125a], theirs[0x1210:0x125a])
        self.assertEqual(mine[-64:], theirs[-64:])
        rc, out_text, err = run("verify", "-k", fx("pub-ecdsa-p256.pem"),
                                "--min-security-counter", "7", out)
        self.assertEqual(rc, 0, err)
        self.assertIn(V200_SHA, out_text)

    def test_keygen_sign_verify_every_key_type(self):
        types = ["ecdsa-p256", "ed25519", "rsa-2048", "rsa-3072"]
        for t in types:
            with self.subTest(type=t):
                key, pub = self.path(t + ".pem"), self.path(t + ".pub.pem")
                rc, _, err = run("keygen", "-t", t, "-k", key, "-p", pub)
                self.assertEqual(rc, 0, err)
                self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
                img = self.path(t + ".img")
                rc, _, err = run("sign", "-k", key, "-H", "0x20", "--pad-header", "-v", "3.1.4",
                                 "-s", "auto", fx("payload.bin"), img)
                self.assertEqual(rc, 0, err)
                rc, out, err = run("verify", "-k", pub, img)
                self.assertEqual(rc, 0, err)
                self.assertIn("Security counter: %d" % 0x03010004, out)
                rc, out, _ = run("getpub", "-k", key, "-e", "hash")
                self.assertEqual(rc, 0)
                rc2, dump, _ = run("dump", img)
                self.assertIn("KEYHASH (0x01) len 32: " + out.strip(), dump)
        # The same file is not overwritten without --force.
        rc, _, err = run("keygen", "-t", "ed25519", "-k", self.path("ed25519.pem"))
        self.assertEqual(rc, 2)
        rc, _, err = run("keygen", "-t", "ecdsa-p384", "-k", self.path("x.pem"))
        self.assertEqual(rc, 2)
        self.assertIn("unsupported key type", err)

    def test_full_public_key_format(self):
        img = self.path("full.img")
        rc, _, err = run("sign", "-k", fx("key-rsa-2048.pem"), "-H", "0x20", "--pad-header", "-v",
                         "1", "--public-key-format", "full", fx("payload.bin"), img)
        self.assertEqual(rc, 0, err)
        rc, dump, _ = run("dump", img)
        self.assertIn("PUBKEY (0x02)", dump)
        rc, _, err = run("verify", "-k", fx("pub-rsa-2048.pem"), img)
        self.assertEqual(rc, 0, err)

    def test_dependencies_and_custom_tlvs(self):
        img = self.path("deps.img")
        rc, _, err = run("sign", "-k", fx("key-ed25519.pem"), "-H", "0x20", "--pad-header", "-v",
                         "1.0.0", "-d", "(1,1.2.3+4)", "--custom-tlv", "0xa0", "0xbeef",
                         "--custom-tlv", "0xa1", "text", fx("payload.bin"), img)
        self.assertEqual(rc, 0, err)
        rc, dump, _ = run("dump", img)
        self.assertIn("DEPENDENCY (0x40) len 12: image 1 >= 1.2.3+4", dump)
        self.assertIn("VENDOR (0xa0) len 2: beef", dump)
        self.assertIn("VENDOR (0xa1) len 4: 74657874", dump)

    def test_usage_errors(self):
        out = self.path("x.img")
        cases = [
            ["sign", "-k", fx("key-ed25519.pem"), "-H", "0x20", "-v", "1.2.3.4", "--pad-header",
             fx("payload.bin"), out],
            ["sign", "-k", fx("key-ed25519.pem"), "-H", "0x20", "-v", "1", "--pad-header", "--pad",
             fx("payload.bin"), out],
            ["sign", "-k", fx("key-ed25519.pem"), "-H", "0x20", "-v", "1", "--pad-header",
             "--custom-tlv", "0x10", "0x00", fx("payload.bin"), out],
            ["verify", "-k", fx("nonexistent.pem"), fx("payload.bin")],
            ["sign", "-k", fx("key-ed25519.pem"), "-H", "0x20", "-v", "1", "--pad-header",
             fx("payload.bin"), self.path("x.hex")],
            ["frobnicate"],
        ]
        for c in cases:
            with self.subTest(args=c):
                rc, _, _ = run(*c)
                self.assertEqual(rc, 2)
        # Without --pad-header the input must start with header-size zero bytes.
        rc, _, err = run("sign", "-k", fx("key-ed25519.pem"), "-H", "0x200", "-v", "1",
                         fx("payload.bin"), out)
        self.assertEqual(rc, 1)
        self.assertIn("bad_header_padding", err)
        rc, _, err = run("sign", "-k", fx("key-ed25519.pem"), "-H", "0x200", "--pad-header",
                         "-v", "1", "--pad", "-S", "0x1000", fx("payload.bin"), out)
        self.assertEqual(rc, 1)
        self.assertIn("image_too_large", err)


class BadInput(unittest.TestCase):
    """Each kind of bad image, made from a good one, refused with its own error."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="aegis-image-bad-")
        with open(fx("img-ecdsa-p256-v2.0.0-seccnt7.bin"), "rb") as f:
            self.good = bytearray(f.read())  # SEC_CNT at 0x1204, unprotected info at 0x120c

    def tearDown(self):
        shutil.rmtree(self.dir)

    def refuse(self, data, expected, *extra):
        path = os.path.join(self.dir, "bad.img")
        with open(path, "wb") as f:
            f.write(bytes(data))
        rc, _, err = run("verify", "-k", fx("pub-ecdsa-p256.pem"), *extra, path)
        self.assertEqual(rc, 1, err)
        self.assertIn(expected, err)
        rc, dump, _ = run("dump", path)
        self.assertIn(rc, (0, 1))  # dump shows what it can, and says why it refuses
        if rc == 1:
            self.assertIn("error: ", dump)

    def test_each_refusal(self):
        g = self.good
        def patched(off, fmt, value):
            d = bytearray(g)
            struct.pack_into(fmt, d, off, value)
            return d
        flipped = bytearray(g)
        flipped[0x300] ^= 1
        sig = bytearray(g)
        sig[0x1260] ^= 1
        cases = [
            ("truncated header", g[:20], "truncated_header"),
            ("truncated payload", g[:0x1000], "truncated_image"),
            ("truncated TLVs", g[:0x1250], "tlv_area_out_of_bounds"),
            ("img_size outside the file", patched(12, "<I", 0x7fffffff), "truncated_image"),
            ("oversized TLV area", patched(0x120e, "<H", 0xffff), "tlv_area_out_of_bounds"),
            ("overlapping TLV areas", patched(10, "<H", 0x10), "protected_size_mismatch"),
            ("TLV length outside its area", patched(0x1206, "<H", 0x40),
             "tlv_entry_out_of_bounds"),
            ("unknown protected TLV", patched(0x1204, "<H", 0x51), "unknown_tlv"),
            ("policy TLV unprotected", patched(0x1210, "<H", 0x50), "misplaced_tlv"),
            ("tampered payload", flipped, "hash_mismatch"),
            ("tampered header", patched(20, "<B", 9), "hash_mismatch"),
            ("tampered protected TLV", patched(0x1208, "<I", 8), "hash_mismatch"),
            ("tampered KEYHASH", patched(0x1238, "<B", 0), "unknown_key"),
            ("tampered signature", sig, "bad_signature"),
            ("bad magic", patched(0, "<I", 0x96f3b83c), "bad_magic"),
        ]
        for name, data, expected in cases:
            with self.subTest(case=name):
                self.refuse(data, expected)

    def test_lower_security_counter(self):
        self.refuse(self.good, "security_counter_rollback", "--min-security-counter", "8")

    def test_missing_counter_when_required(self):
        with open(fx("img-ecdsa-p256-v1.2.3.bin"), "rb") as f:
            self.refuse(f.read(), "missing_security_counter", "--min-security-counter", "0")

    def test_image_into_the_trailer(self):
        # 0x1300 slot, align 1: 432 trailer bytes leave 4432 for a 4770-byte image.
        self.refuse(self.good, "image_overlaps_trailer", "-S", "0x1300", "--align", "1")

    def test_wrong_key(self):
        path = os.path.join(self.dir, "other.pem")
        rc, _, _ = run("keygen", "-t", "ecdsa-p256", "-k", path)
        self.assertEqual(rc, 0)
        img = os.path.join(self.dir, "good.img")
        with open(img, "wb") as f:
            f.write(bytes(self.good))
        rc, _, err = run("verify", "-k", path, img)
        self.assertEqual(rc, 1)
        self.assertIn("unknown_key", err)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--aegis-image", required=True)
    parser.add_argument("--fixtures", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
