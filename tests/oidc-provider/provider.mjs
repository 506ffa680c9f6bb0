// An OpenID Connect provider for Sceau's integration tests, made with the npm package
// oidc-provider and configured like FranceConnect+: acr values eidas1, eidas2 and eidas3;
// the claims given_name, family_name (the birth name), birthdate and preferred_username
// (the usage name) given by userinfo as a JWT; ID tokens and userinfo signed with ES256
// by a key made at start; PKCE with S256 required; the authorisation code flow only.
//
// Usage: node provider.mjs READY_FILE
// Listens on 127.0.0.1 on a port the system picks and writes "PORT" into READY_FILE.
// The test then registers its one client, whose redirect URI it only knows once the
// gateway runs: POST /test/client with client_id, client_secret, redirect_uri and
// token_endpoint_auth_method (a form). Until then every other path answers 503.
//
// The login page, GET /interaction/UID, is a plain form posting to
// /interaction/UID/login the person (one of PEOPLE) and the acr to authenticate with,
// or `cancel` to refuse (the client then gets error=access_denied).

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const PEOPLE = {
  // Born Lefèvre, uses Marchand: FranceConnect gives the birth name as family_name and
  // the usage name as preferred_username.
  elodie: {
    given_name: 'Élodie',
    family_name: 'Lefèvre',
    preferred_username: 'Marchand',
    birthdate: '1985-04-03',
  },
  claire: { given_name: 'Claire', family_name: 'Martinez', birthdate: '1985-04-03' },
};
const ACR_VALUES = ['eidas1', 'eidas2', 'eidas3'];
const SCOPES = ['openid', 'given_name', 'family_name', 'birthdate', 'preferred_username'];

const readyFile = process.argv[2];
if (!readyFile) {
  console.error('usage: node provider.mjs READY_FILE');
  process.exit(2);
}

const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `test-es256-${crypto.randomBytes(4).toString('hex')}`,
  use: 'sig',
  alg: 'ES256',
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 16384) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function makeProvider(issuer, client) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: client.get('client_id'),
        client_secret: client.get('client_secret'),
        redirect_uris: [client.get('redirect_uri')],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: client.get('token_endpoint_auth_method') || 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
        userinfo_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [signingKey] },
    acrValues: ACR_VALUES,
    scopes: SCOPES,
    claims: Object.fromEntries(SCOPES.map((s) => [s, s === 'openid' ? ['sub'] : [s]])),
    pkce: { methods: ['S256'], required: () => true },
    features: {
      devInteractions: { enabled: false },
      jwtUserinfo: { enabled: true },
    },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      if (!PEOPLE[sub]) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...PEOPLE[sub] }) };
    },
    // A first-party client: consent is given once the person has logged in.
    async loadExistingGrant(ctx) {
      const { Grant } = ctx.oidc.provider;
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      const existing = grantId && (await Grant.find(grantId));
      if (existing) return existing;
      const grant = new Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(SCOPES.join(' '));
      await grant.save();
      return grant;
    },
  });
  provider.on('server_error', (ctx, error) => console.error('server_error', error));
  return provider;
}

async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET' && !action) {
    const people = Object.keys(PEOPLE)
      .map((p) => `<option value="${escapeHtml(p)}">${escapeHtml(p)}</option>`)
      .join('');
    const acrs = ACR_VALUES.map((a) => `<option value="${a}">${a}</option>`).join('');
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(`<!DOCTYPE html><title>Login</title><p>acr asked: ${escapeHtml(
      details.params.acr_values || '',
    )}</p><form method="post" action="/interaction/${escapeHtml(uid)}/login">`
      + `<select name="person">${people}</select><select name="acr">${acrs}</select>`
      + '<button name="login" value="1">Log in</button>'
      + '<button name="cancel" value="1">Cancel</button></form>');
    return;
  }
  if (req.method !== 'POST' || action !== 'login') {
    res.statusCode = 405;
    res.end();
    return;
  }
  const form = await readBody(req);
  if (form.get('cancel')) {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the person cancelled',
    });
    return;
  }
  const person = form.get('person');
  const acr = form.get('acr');
  if (!PEOPLE[person] || !ACR_VALUES.includes(acr)) {
    res.statusCode = 400;
    res.end('unknown person or acr');
    return;
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: person, acr, amr: ['pwd'] } },
    { mergeWithLastSubmission: false },
  );
}

const server = http.createServer();
let provider = null;
let callback = null;

server.on('request', async (req, res) => {
  try {
    const { pathname } = new URL(req.url, 'http://127.0.0.1');
    if (pathname === '/test/client' && req.method === 'POST') {
      if (provider) {
        res.statusCode = 409;
        res.end('the client is registered already');
        return;
      }
      const { port } = server.address();
      provider = makeProvider(`http://127.0.0.1:${port}`, await readBody(req));
      callback = provider.callback();
      res.statusCode = 204;
      res.end();
      return;
    }
    if (!provider) {
      res.statusCode = 503;
      res.end('no client registered yet');
      return;
    }
    const match = pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/);
    if (match) {
      await interaction(provider, req, res, match[1], match[2]);
      return;
    }
    callback(req, res);
  } catch (error) {
    console.error(error);
    res.statusCode = 500;
    res.end('provider script error');
  }
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  fs.writeFileSync(`${readyFile}.tmp`, `${port}\n`);
  fs.renameSync(`${readyFile}.tmp`, readyFile);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
