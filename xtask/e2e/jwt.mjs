// The end-to-end suite's test identity provider: fresh key pairs every run
// (RS256 and ES256, plus an unrelated RSA key standing for another
// tenant's provider), and tokens minted from a list of specs read on stdin.
// Prints {"jwks": {...public keys...}, "tokens": [...]}. Test
// infrastructure only; nothing here is used by the product.
import { generateKeyPairSync, sign, createHmac } from "node:crypto";

const b64 = (b) => Buffer.from(b).toString("base64url");
let raw = "";
for await (const chunk of process.stdin) raw += chunk;
const specs = JSON.parse(raw);

const keys = {
  rs: generateKeyPairSync("rsa", { modulusLength: 2048 }),
  ec: generateKeyPairSync("ec", { namedCurve: "P-256" }),
  other: generateKeyPairSync("rsa", { modulusLength: 2048 }),
};
const jwk = (k, kid, alg) => ({ ...k.publicKey.export({ format: "jwk" }), kid, alg, use: "sig" });
const jwks = { keys: [jwk(keys.rs, "rs1", "RS256"), jwk(keys.ec, "ec1", "ES256")] };

const tokens = specs.map((s) => {
  const header = s.header ?? { alg: s.alg, kid: s.kid, typ: "JWT" };
  const input = b64(JSON.stringify(header)) + "." + b64(JSON.stringify(s.claims));
  let sig;
  if (s.alg === "none") sig = "";
  else if (s.hmac_with_public_key) sig = b64(createHmac("sha256", JSON.stringify(jwks.keys[0])).update(input).digest());
  else if (s.alg === "ES256") sig = b64(sign("sha256", Buffer.from(input), { key: keys.ec.privateKey, dsaEncoding: "ieee-p1363" }));
  else sig = b64(sign("sha256", Buffer.from(input), keys[s.key ?? "rs"].privateKey));
  let token = input + "." + sig;
  if (s.tamper_claims) {
    const parts = token.split(".");
    parts[1] = b64(JSON.stringify(s.tamper_claims));
    token = parts.join(".");
  }
  return token;
});
process.stdout.write(JSON.stringify({ jwks, tokens }));
