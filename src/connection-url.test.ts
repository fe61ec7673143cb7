/**
 * The one connection URL parser (issue 22, findings 3 and 6): every form a password can
 * take goes in; the password comes out exactly, or the URL is refused with
 * CONNECTION_URL_INVALID; the URL kept (and the refusal's message) never holds it.
 * Cross-checked against the drivers' own parsers (mongodb-connection-string-url,
 * pg-connection-string) where those read the form at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionString } from 'mongodb-connection-string-url';
import { parse as parsePg } from 'pg-connection-string';
import { brokerList, formatConnectionUrl, lenientDecode, maskConnectionUrl, parseConnectionUrl, splitConnectionUrl, type UrlKind } from './connection-url';
import { fuzzSeed, seededRandom } from '../test/helpers/random';
import { SluiceError } from './errors';

const refusedWith = (fn: () => unknown, secret?: string): SluiceError => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SluiceError, String(err));
    assert.equal(err.code, 'CONNECTION_URL_INVALID', err.message);
    assert.equal(err.status, 400);
    if (secret !== undefined) assert.ok(!(err.message + JSON.stringify(err.detail)).includes(secret), `the refusal quotes the password: ${err.message}`);
    return err;
  }
  assert.fail('not refused');
};

/** Passwords that break naive parsers: every reserved character, `%` alone and before hex, non-ASCII. */
const HARD = ['p@ss:w/rd%Zq7', 'a@b@c', 'x:y:z', 'sl/ash', 'q?mark', 'h#sh', 'amp&er=sand', 'per%cent', '%41%42', 'sp ace', 'plus+plus', 'ünï©ødé', '😀smile', '[br]ack{}', "qu'ot\"e", 'back\\slash', 'comma,semi;'];

test('every form extracts the password exactly when it is percent-encoded, and keeps a URL without it', () => {
  const forms: Array<[UrlKind, (pw: string) => string]> = [
    ['postgresql', (pw) => `postgresql://alice:${pw}@db.example:5432/app?sslmode=require`],
    ['postgresql', (pw) => `postgres://alice:${pw}@[::1]:5432/app`],
    ['postgresql', (pw) => `jdbc:postgresql://db:5432/app?user=alice&password=${pw}`],
    ['postgresql', (pw) => `jdbc:postgresql://alice:${pw}@db/app`],
    ['mysql', (pw) => `mysql://bob:${pw}@127.0.0.1:3306/shop`],
    ['mysql', (pw) => `jdbc:mariadb://db:3306/shop?user=bob&password=${pw}&useSSL=true`],
    ['mongodb', (pw) => `mongodb://carol:${pw}@h1:27017,h2:27018,[::1]:27019/target?replicaSet=rs0&authSource=admin`],
    ['mongodb', (pw) => `mongodb://carol:${pw}@h1/target`],
    ['mongodb', (pw) => `mongodb+srv://carol:${pw}@cluster0.example.net/target?retryWrites=true`],
  ];
  for (const pw of HARD) {
    for (const [kind, form] of forms) {
      const url = form(encodeURIComponent(pw));
      const split = splitConnectionUrl(url, kind);
      assert.equal(split.password, pw, url);
      assert.ok(!split.url.includes(pw) && !split.url.includes(encodeURIComponent(pw)), `${url} kept as ${split.url}`);
      // Put back (for the runtime) and read again: the same password, whatever it holds.
      const joined = formatConnectionUrl(parseConnectionUrl(split.url, kind), pw);
      assert.equal(parseConnectionUrl(joined, kind).password, pw, joined);
    }
  }
});

test('an unencoded "@" in a password lands in the password (the last "@" of the authority ends the userinfo), also in multi-host URLs', () => {
  assert.deepEqual(splitConnectionUrl('postgresql://u:p@ss@h:5432/db', 'postgresql'), { url: 'postgresql://u@h:5432/db', password: 'p@ss' });
  assert.deepEqual(splitConnectionUrl('mongodb://u:TopSecret6@127.0.0.1:57017,127.0.0.1:57018/db', 'mongodb'), { url: 'mongodb://u@127.0.0.1:57017,127.0.0.1:57018/db', password: 'TopSecret6' });
  assert.deepEqual(splitConnectionUrl('mongodb://u:a@b,c@h1,h2/db'), { url: 'mongodb://u@h1,h2/db', password: 'a@b,c' });
  // A user with an unencoded "@" is re-encoded in the URL kept (the MongoDB driver insists).
  assert.equal(splitConnectionUrl('mongodb://me@corp:pw@h/db').url, 'mongodb://me%40corp@h/db');
});

test('a "%" that starts no escape is a literal "%"; escapes are decoded once; text that is not UTF-8 is refused', () => {
  assert.equal(lenientDecode('p%Zq7%'), 'p%Zq7%');
  assert.equal(lenientDecode('%41%2541'), 'A%41');
  assert.equal(lenientDecode('%C3%BC'), 'ü');
  assert.equal(lenientDecode('%FF'), null);
  assert.equal(splitConnectionUrl('postgresql://u:p%Zq7@h/db').password, 'p%Zq7');
  refusedWith(() => splitConnectionUrl('postgresql://u:%FF%FE@h/db'));
});

test('URLs that cannot be read safely are refused naming the field, and the refusal quotes nothing of them', () => {
  const secret = 'S3cr3tPw';
  const bad: Array<[string, UrlKind | undefined]> = [
    [`postgresql://u:${secret}@h:999999/db`, 'postgresql'], // port out of range
    [`postgresql://u:${secret}@h:0/db`, 'postgresql'],
    [`postgresql://u:${secret}@h1:5432,h2:5432/db`, 'postgresql'], // one server per source
    [`mysql://u:${secret}@h1,h2/db`, 'mysql'],
    [`mysql://u:p@${secret}/w@h:3306/db`, 'mysql'], // "/" in a password
    [`postgresql://u:12/${secret}@h/db`, 'postgresql'],
    [`postgresql://u:12?user=${secret}@h/db`, 'postgresql'], // "?" in a password, reading as a user parameter
    [`postgresql://u:${secret}#x@h/db`, 'postgresql'], // "#"
    [`kafka://u:${secret}@h1:9092,h2:9092`, 'kafka'], // no SASL: no credentials
    [`u:${secret}@h1:9092`, 'kafka'],
    [`h1:9092,h2`, 'kafka'], // a broker without its port
    [`mongodb+srv://u:${secret}@h1,h2/db`, 'mongodb'],
    [`mongodb+srv://u:${secret}@h1:27017/db`, 'mongodb'],
    [`mongodb://u:${secret}@/db`, 'mongodb'],
    [`jdbc:postgresql://h/db?user=u&password=a&${secret}`, 'postgresql'], // "&" in a JDBC password
    [`jdbc:postgresql://h/db?user=u&password=a&x${secret}=1`, 'postgresql'],
    [`jdbc:postgresql://u:a@h/db?password=${secret}`, 'postgresql'], // two passwords
    [`mongodb://u:pw@h/db?tlsCertificateKeyFilePassword=${secret}`, 'mongodb'], // a second secret
    [`jdbc:postgresql://h/db?sslpassword=${secret}`, 'postgresql'],
    [`postgresql://u:${secret}@h/db extra`, 'postgresql'], // a space
    [`postgresql://u:${secret}\n@h/db`, 'postgresql'],
    [`mysql://u:${secret}@h/db`, 'postgresql'], // scheme of another kind
    [`jdbc:mongodb://u:${secret}@h/db`, 'mongodb'],
    [`ftp://u:${secret}@h/db`, undefined],
    [`postgresql://u:${secret}@h/db/more`, 'postgresql'],
    [`postgresql://u:${secret}@h/db?who=me@corp`, 'postgresql'], // "@" in a parameter must be %40
    [`postgresql://u:${secret}\ud800@h/db`, 'postgresql'], // a lone surrogate (invalid UTF-8 sent as JSON)
    ['', 'postgresql'],
  ];
  for (const [url, kind] of bad) {
    const e = refusedWith(() => splitConnectionUrl(url, kind, 'body.url'), secret);
    assert.equal(e.detail.field, 'body.url', url);
  }
});

test('the forms agree with the drivers\' own parsers where those read them', () => {
  for (const pw of HARD) {
    const enc = encodeURIComponent(pw);
    for (const url of [`mongodb://carol:${enc}@h1:27017,h2:27018/target?replicaSet=rs0`, `mongodb+srv://carol:${enc}@cluster0.example.net/target`, `mongodb://carol:${enc}@[::1]:27017/target`]) {
      const ours = parseConnectionUrl(url);
      const theirs = new ConnectionString(url);
      assert.equal(ours.password, decodeURIComponent(theirs.password), url);
      assert.equal(ours.user, decodeURIComponent(theirs.username), url);
      assert.deepEqual(ours.hosts.map((h) => (h.port ? `${h.host}:${h.port}` : h.host)), theirs.hosts, url);
      assert.equal(ours.database, decodeURIComponent(theirs.pathname.slice(1)), url);
      // What the store keeps still reads with the driver's parser, password put back or not.
      assert.equal(new ConnectionString(formatConnectionUrl(ours)).password, '');
      assert.equal(decodeURIComponent(new ConnectionString(formatConnectionUrl(ours, pw)).password), pw);
    }
    const pg = `postgresql://alice:${enc}@db.example:5433/app`;
    const theirs = parsePg(pg);
    const ours = parseConnectionUrl(pg);
    assert.deepEqual([ours.user, ours.password, ours.hosts[0]?.host, String(ours.hosts[0]?.port), ours.database], [theirs.user, theirs.password, theirs.host, theirs.port, theirs.database], pg);
  }
});

test('Kafka broker lists with or without kafka://; masks show no password and nothing of an unreadable URL', () => {
  assert.deepEqual(brokerList('127.0.0.1:9092, 127.0.0.2:9092'.replace(' ', '')), ['127.0.0.1:9092', '127.0.0.2:9092']);
  assert.deepEqual(brokerList('kafka://k1:9092,[::1]:9093'), ['k1:9092', '[::1]:9093']);
  assert.equal(maskConnectionUrl('mongodb://u:secretpw@h1,h2/db'), 'mongodb://u:****@h1,h2/db');
  assert.equal(maskConnectionUrl('jdbc:mysql://h/db?user=u&password=secretpw'), 'jdbc:mysql://h/db?user=u&password=****');
  assert.ok(!maskConnectionUrl('postgresql://u:secretpw@h:99999/db').includes('secretpw'));
});

const safeEncode = (s: string): string => {
  try {
    return encodeURIComponent(s);
  } catch {
    return s; // a slice through a surrogate pair
  }
};


test('fuzz: random passwords written raw or encoded into every form are extracted exactly or refused, never kept in the URL', () => {
  const n = Number(process.env.SLUICE_TEST_URL_FUZZ ?? 3000);
  const seed = fuzzSeed('SLUICE_TEST_URL_FUZZ_SEED');
  const rand = seededRandom(seed);
  const alphabet = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', ...'@:/?#&=%+,;[]!$\'()*~.-_ ', 'ü', '€', '😀'];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const forms: Array<[UrlKind, (pw: string) => string, 'userinfo' | 'param']> = [
    ['postgresql', (pw) => `postgresql://alice:${pw}@db.example:5432/app?sslmode=require`, 'userinfo'],
    ['postgresql', (pw) => `jdbc:postgresql://db:5432/app?user=alice&password=${pw}`, 'param'],
    ['postgresql', (pw) => `jdbc:postgresql://db:5432/app?password=${pw}&user=alice`, 'param'],
    ['mysql', (pw) => `mysql://bob:${pw}@127.0.0.1:3306/shop`, 'userinfo'],
    ['mysql', (pw) => `jdbc:mariadb://db:3306/shop?user=bob&password=${pw}`, 'param'],
    ['mongodb', (pw) => `mongodb://carol:${pw}@h1:27017,h2:27018/target?replicaSet=rs0`, 'userinfo'],
    ['mongodb', (pw) => `mongodb+srv://carol:${pw}@cluster0.example.net/target`, 'userinfo'],
  ];
  for (let i = 0; i < n; i++) {
    const len = 6 + Math.floor(rand() * 14);
    let pw = '';
    while ([...pw].length < len) pw += pick(alphabet);
    const [kind, form, where] = pick(forms);
    const raw = rand() < 0.5;
    const url = form(raw ? pw : encodeURIComponent(pw));
    const at = `seed ${seed} case ${i}: ${JSON.stringify(url)}`;
    let split: { url: string; password?: string };
    try {
      split = splitConnectionUrl(url, kind);
    } catch (err) {
      assert.ok(err instanceof SluiceError && err.code === 'CONNECTION_URL_INVALID', `${at}: ${String(err)}`);
      assert.ok(!(err.message + JSON.stringify(err.detail)).includes(pw), `${at}: the refusal quotes the password`);
      assert.ok(!raw || !/^[A-Za-z0-9ü€😀!$'()*~._-]*$/.test(pw) || where === 'param', `${at}: a password of plain characters was refused`);
      continue;
    }
    // Encoded: exactly the password. Raw: the password as percent-decoding reads it (a raw
    // "%41" is "A"), never a piece of it.
    const expected = raw ? lenientDecode(pw) : pw;
    assert.equal(split.password, expected, at);
    for (let w = 0; w + 6 <= pw.length; w++) {
      const piece = pw.slice(w, w + 6);
      assert.ok(!split.url.includes(piece) && !split.url.includes(safeEncode(piece)), `${at}: kept as ${split.url}, which holds "${piece}"`);
    }
  }
});
