#!/usr/bin/env python3
"""Forge access tokens against the platform with a JWT library written by someone else.

The library is PyJWT (PyPI `PyJWT[crypto]`, pinned in scripts/test), used as an attacker would:
it reads a real access token and the platform's published key set (JWKS), and makes tokens that
a careless verifier would accept. Where PyJWT itself refuses to make a known-bad token (it will
not use a PEM public key as an HMAC secret), the token is put together by hand with the
standard library, as an attacker would.

Two kinds of forgery:
- without any of the platform's keys: `alg: none`, HMAC keyed with the public key, the
  attacker's own keys (under the real `kid`, an unknown `kid`, embedded as `jwk`, published at a
  `jku`), claims edited under the original signature;
- with the platform's real private key (the caller reads it from identity's database, as only
  an attacker holding that database could): tokens whose signature is good but whose claims or
  header break a rule (expired, not yet valid, wrong issuer or audience, not an access token,
  too long a lifetime, no `kid`, an unknown role). These show the verifier checks more than
  the signature. One token re-signed unchanged with the real key is the control: it must be
  accepted, so a refusal of the others is not PyJWT's signatures failing to verify.

Input (JSON on standard input): {"token", "jwks", "private_key_pkcs8_b64", "district",
"other_scope", "jku"}.
Output (JSON on standard output): {"forgeries": [{"name", "token", "expect"}], "attacker_jwks"},
`expect` being "refused" or "accepted"; `attacker_jwks` is the attacker's key set, for the
caller to publish at the `jku` it gave (so that a verifier that followed `jku` would find it).
"""
import base64
import copy
import hashlib
import hmac
import json
import sys
import time

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
except ImportError as e:  # the Rust test turns this into a failure with this message
    print(f"PyJWT is missing ({e}): python3 -m pip install 'PyJWT[crypto]==2.10.1'",
          file=sys.stderr)
    sys.exit(3)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact(header: dict, claims: dict, signature: bytes = b"") -> str:
    """A compact JWS from parts, the signature given (or empty)."""
    h = b64(json.dumps(header, separators=(",", ":")).encode())
    c = b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{c}.{b64(signature)}"


def hmac_signed(header: dict, claims: dict, secret: bytes) -> str:
    h = b64(json.dumps(header, separators=(",", ":")).encode())
    c = b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret, f"{h}.{c}".encode(), hashlib.sha256).digest()
    return f"{h}.{c}.{b64(mac)}"


def private_key(der: bytes):
    """A PKCS#8 private key. The platform writes Ed25519 keys as PKCS#8 v2 (RFC 5958, the public
    key included), which `cryptography` does not read; the 32-byte seed is the OCTET STRING in
    the privateKey OCTET STRING (04 22 04 20 <seed>)."""
    try:
        return serialization.load_der_private_key(der, password=None)
    except ValueError:
        at = der.find(b"\x04\x22\x04\x20")
        if b"\x06\x03\x2b\x65\x70" not in der or at < 0:
            raise
        return ed25519.Ed25519PrivateKey.from_private_bytes(der[at + 4:at + 36])


def main():
    given = json.load(sys.stdin)
    token = given["token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    kid, alg = header["kid"], header["alg"]
    real_jwk = next(k for k in given["jwks"]["keys"] if k.get("kid") == kid)
    real_public = (OKPAlgorithm if real_jwk["kty"] == "OKP" else RSAAlgorithm).from_jwk(real_jwk)
    public_pem = real_public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_raw = (real_public.public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
                  if real_jwk["kty"] == "OKP" else unb64(real_jwk["n"]))
    typ = header.get("typ", "at+jwt")

    attacker = ed25519.Ed25519PrivateKey.generate()
    attacker_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_jwk = json.loads(OKPAlgorithm.to_jwk(attacker.public_key()))
    attacker_jwk.update({"kid": "attacker-1", "alg": "EdDSA", "use": "sig"})

    widened = copy.deepcopy(claims)
    widened.update({"roles": ["district_officer", "admin"], "scope": given["district"]})
    elsewhere = copy.deepcopy(claims)
    elsewhere["scope"] = given["other_scope"]

    out = []

    def add(name, forged, expect="refused"):
        out.append({"name": name, "token": forged, "expect": expect})

    def attacker_signed(claims_, **headers):
        return jwt.encode(claims_, attacker, algorithm="EdDSA", headers=headers)

    # alg none, with PyJWT's own "none" algorithm and by hand.
    add("alg none", jwt.encode(claims, None, algorithm="none",
                               headers={"kid": kid, "typ": typ}))
    add("alg none, widened claims", jwt.encode(widened, None, algorithm="none",
                                               headers={"kid": kid, "typ": typ}))
    original_signature = unb64(token.split(".")[2])
    add("alg none keeping the original signature",
        compact({"alg": "none", "kid": kid, "typ": typ}, claims, original_signature))
    add("alg nOnE (mixed case)", compact({"alg": "nOnE", "kid": kid, "typ": typ}, claims))

    # HS256 keyed with the public key: PyJWT refuses a PEM as an HMAC secret, so by hand.
    hs = {"alg": "HS256", "kid": kid, "typ": typ}
    add("HS256 with the public key (PEM) as secret", hmac_signed(hs, widened, public_pem))
    add("HS256 with the public key (raw bytes) as secret",
        jwt.encode(widened, public_raw, algorithm="HS256", headers={"kid": kid, "typ": typ}))
    add("HS256 with the published JWK (JSON) as secret",
        jwt.encode(widened, json.dumps(real_jwk), algorithm="HS256",
                   headers={"kid": kid, "typ": typ}))
    add("HS256 with the x/n member (base64url text) as secret",
        jwt.encode(widened, real_jwk.get("x") or real_jwk["n"], algorithm="HS256",
                   headers={"kid": kid, "typ": typ}))

    # Claims edited under the original header and signature.
    parts = token.split(".")
    add("tampered claims (widened roles and scope) with the original signature",
        f"{parts[0]}.{b64(json.dumps(widened, separators=(',', ':')).encode())}.{parts[2]}")
    add("tampered claims (another jurisdiction) with the original signature",
        f"{parts[0]}.{b64(json.dumps(elsewhere, separators=(',', ':')).encode())}.{parts[2]}")
    add("original claims with the signature cut short", token[:-8])
    add("original claims with no signature", f"{parts[0]}.{parts[1]}.")

    # The attacker's own keys.
    add("attacker's key under the real kid", attacker_signed(claims, kid=kid, typ=typ))
    add("widened roles and scope, re-signed by the attacker under the real kid",
        attacker_signed(widened, kid=kid, typ=typ))
    add("another jurisdiction, re-signed by the attacker under the real kid",
        attacker_signed(elsewhere, kid=kid, typ=typ))
    add("attacker's RSA key (RS256) under the real kid",
        jwt.encode(widened, attacker_rsa, algorithm="RS256", headers={"kid": kid, "typ": typ}))
    add("unknown kid", attacker_signed(widened, kid="attacker-1", typ=typ))
    add("no kid, attacker's key", attacker_signed(widened, typ=typ))
    add("embedded jwk header with the attacker's key",
        attacker_signed(widened, kid="attacker-1", typ=typ, jwk=attacker_jwk))
    add("embedded jwk header with the attacker's key under the real kid",
        attacker_signed(widened, kid=kid, typ=typ, jwk=dict(attacker_jwk, kid=kid)))
    add("jku header pointing at the attacker's key set",
        attacker_signed(widened, kid="attacker-1", typ=typ, jku=given["jku"]))
    add("jku header under the real kid", attacker_signed(widened, kid=kid, typ=typ,
                                                         jku=given["jku"]))
    add("x5u header pointing elsewhere", attacker_signed(widened, kid=kid, typ=typ,
                                                         x5u=given["jku"]))

    # Signed with the real key: the signature is good, the rest is not.
    der = given.get("private_key_pkcs8_b64")
    if der:
        real = private_key(base64.b64decode(der))
        now = int(time.time())

        def real_signed(claims_, **headers):
            h = {"kid": kid, "typ": typ}
            h.update(headers)
            return jwt.encode(claims_, real, algorithm=alg, headers=h)

        def edited(**changes):
            c = copy.deepcopy(claims)
            for k, v in changes.items():
                if v is None:
                    c.pop(k, None)
                else:
                    c[k] = v
            return c

        add("control: the real claims re-signed with the real key", real_signed(claims),
            "accepted")
        add("expired (real key)", real_signed(edited(iat=now - 1000, nbf=now - 1000,
                                                     exp=now - 200)))
        add("not yet valid: nbf in the future (real key)",
            real_signed(edited(iat=now, nbf=now + 600, exp=now + 900)))
        add("issued in the future: iat ahead (real key)",
            real_signed(edited(iat=now + 600, nbf=now, exp=now + 900)))
        add("wrong issuer (real key)", real_signed(edited(iss="https://attacker.example")))
        add("wrong audience (real key)", real_signed(edited(aud="someone-else")))
        add("audience list without ours (real key)", real_signed(edited(aud=["someone-else"])))
        add("no exp (real key)", real_signed(edited(exp=None)))
        add("lifetime of a year (real key)",
            real_signed(edited(iat=now, nbf=now, exp=now + 365 * 86400)))
        add("typ JWT, not at+jwt (real key)", real_signed(claims, typ="JWT"))
        add("no typ (real key)", real_signed(claims, typ=None))
        add("typ JOSE (real key)", real_signed(claims, typ="JOSE"))
        add("no kid (real key)", jwt.encode(claims, real, algorithm=alg, headers={"typ": typ}))
        add("crit header (real key)", real_signed(claims, crit=["exp"]))
        add("unknown role (real key)", real_signed(edited(roles=["superuser"])))
        add("malformed scope (real key)", real_signed(edited(scope="44030")))

    json.dump({"forgeries": out, "attacker_jwks": {"keys": [attacker_jwk]}}, sys.stdout)


if __name__ == "__main__":
    main()
