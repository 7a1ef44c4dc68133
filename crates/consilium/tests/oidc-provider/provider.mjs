// A real OpenID provider for Consilium's sign-in tests: `oidc-provider` (an OpenID
// Certified implementation) configured the way Pro Santé Connect is: authorization code,
// PKCE S256 required, `acr` values `eidas1` < `eidas2` < `eidas3`, the national professional
// identifier `IdNat_PS` and the PSC-shaped `SubjectRefPro` in userinfo (scope `scope_all`).
//
// Started by the test harness (tests/it/oidc.rs), one process per test, on a loopback port:
//   1. it listens on 127.0.0.1:0 and prints `PORT <n>`;
//   2. it reads one JSON line on stdin: { "redirect_uri": "…", "accounts": { sub: claims } };
//   3. it prints `READY` and serves until stdin closes.
//
// Login is the test's "user at the provider": GET /interaction/:uid?login=<sub>&acr=<acr>
// finishes the login prompt for that account at that level (consent is pre-granted to the
// Consilium client, as PSC does for a registered service).
//
// Test-only forging (for the attacks a certified provider never produces by itself):
// POST /__test/forge {"mode": …} makes the *next* token response carry a forged ID token
// instead of the real one. Modes: tamper (payload changed, signature kept), none
// (alg=none, no signature), hs256 (HMAC keyed with the public key: algorithm confusion),
// other_key (signed by a key not in the JWKS), issuer, audience, expired (re-signed with
// the provider's own key), replay (the ID token of the previous successful exchange).

import http from 'node:http';
import readline from 'node:readline';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const CLIENT_ID = 'consilium';
const CLIENT_SECRET = 'consilium-test-secret-0123456789abcdef';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;
process.stdout.write(`PORT ${port}\n`);

const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
const first = await lines.next();
if (first.done) process.exit(1);
const setup = JSON.parse(first.value);
const accounts = setup.accounts || {};

// The provider's signing key, kept here so that forged tokens can be re-signed with it.
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'psc-test-1', alg: 'RS256', use: 'sig' };
const publicJwk = { kty: signingJwk.kty, n: signingJwk.n, e: signingJwk.e, kid: signingJwk.kid, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [setup.redirect_uri],
      post_logout_redirect_uris: setup.post_logout_redirect_uri ? [setup.post_logout_redirect_uri] : [],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingJwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  acrValues: ['eidas1', 'eidas2', 'eidas3'],
  scopes: ['openid', 'scope_all'],
  claims: {
    openid: ['sub'],
    scope_all: ['IdNat_PS', 'SubjectNameID', 'SubjectRefPro', 'given_name', 'family_name', 'email'],
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const claims = accounts[sub];
    if (!claims) return undefined;
    return { accountId: sub, async claims() { return { sub, ...claims }; } };
  },
  // Consent is pre-granted for the Consilium client (a registered service).
  async loadExistingGrant(ctx) {
    const accountId = ctx.oidc.session.accountId;
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId });
    grant.addOIDCScope('openid scope_all');
    await grant.save();
    return grant;
  },
  ttl: { AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
});

let forge = null;
let lastIdToken = null;

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function forged(mode, real) {
  const [h, p, s] = real.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  const resign = (claims, key = privateKey, kid = signingJwk.kid) =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: header.typ }).sign(key);
  switch (mode) {
    case 'tamper':
      return `${h}.${b64({ ...payload, acr: 'eidas3', sub: `${payload.sub}-x` })}.${s}`;
    case 'none':
      return `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`;
    case 'hs256': {
      const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
      return new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: signingJwk.kid }).sign(secret);
    }
    case 'other_key': {
      const other = await jose.generateKeyPair('RS256');
      return resign(payload, other.privateKey);
    }
    case 'issuer':
      return resign({ ...payload, iss: 'https://attacker.invalid' });
    case 'audience':
      return resign({ ...payload, aud: 'another-client' });
    case 'expired':
      return resign({ ...payload, iat: now - 7200, exp: now - 3600 });
    case 'replay':
      if (!lastIdToken) throw new Error('no earlier ID token to replay');
      return lastIdToken;
    default:
      throw new Error(`unknown forge mode ${mode}`);
  }
}

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    const real = ctx.body.id_token;
    if (forge) {
      const mode = forge;
      forge = null;
      ctx.body = { ...ctx.body, id_token: await forged(mode, real) };
    } else {
      lastIdToken = real;
    }
  }
});

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (req.method === 'POST' && url.pathname === '/__test/forge') {
      forge = JSON.parse(await readBody(req)).mode;
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name !== 'login') {
        res.writeHead(400).end(`unexpected prompt ${details.prompt.name}`);
        return;
      }
      const login = url.searchParams.get('login');
      if (!login || !accounts[login]) {
        await provider.interactionFinished(req, res, {
          error: 'access_denied',
          error_description: 'unknown test account',
        });
        return;
      }
      await provider.interactionFinished(req, res, {
        login: { accountId: login, acr: url.searchParams.get('acr') || 'eidas1', amr: ['mfa'] },
      }, { mergeWithLastSubmission: false });
      return;
    }
    callback(req, res);
  } catch (e) {
    res.writeHead(500).end(String(e && e.stack || e));
  }
});

process.stdout.write('READY\n');
// Serve until the harness closes stdin (or dies).
for await (const _ of lines) { /* ignore */ }
process.exit(0);
