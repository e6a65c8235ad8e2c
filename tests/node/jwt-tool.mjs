// JWT peer for libs/crypto/src/jwt_interop_test.cpp, built on the npm `jose` library.
//
//   node jwt-tool.mjs mint   <alg> <pkcs8.pem> <aud> <sub> <iat>   -> prints the token
//   node jwt-tool.mjs verify <alg> <spki.pem>  <aud> <token>       -> prints header and claims
//
// Exit status 0 on success, 1 when jose refuses the token, 2 on a usage error.
import { readFileSync } from 'node:fs';
import { SignJWT, importPKCS8, importSPKI, jwtVerify } from 'jose';

const [mode, alg, keyPath, aud, arg5, arg6] = process.argv.slice(2);

function usage() {
  console.error('usage: jwt-tool.mjs mint <alg> <pkcs8.pem> <aud> <sub> <iat>');
  console.error('       jwt-tool.mjs verify <alg> <spki.pem> <aud> <token>');
  process.exit(2);
}

if (mode === 'mint' && arg6 !== undefined) {
  const key = await importPKCS8(readFileSync(keyPath, 'utf8'), alg);
  const iat = Number.parseInt(arg6, 10);
  const token = await new SignJWT({ origin: 'jose' })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + 3600)
    .setAudience(aud)
    .setSubject(arg5)
    .sign(key);
  process.stdout.write(token + '\n');
} else if (mode === 'verify' && arg5 !== undefined) {
  const key = await importSPKI(readFileSync(keyPath, 'utf8'), alg);
  try {
    // Only the algorithm the key was made for, as Aegis does.
    const { payload, protectedHeader } = await jwtVerify(arg5, key, {
      algorithms: [alg],
      audience: aud,
      maxTokenAge: '24h',
    });
    process.stdout.write(JSON.stringify({ header: protectedHeader, claims: payload }) + '\n');
  } catch (err) {
    console.error(`jose refused the token: ${err.code ?? ''} ${err.message}`);
    process.exit(1);
  }
} else {
  usage();
}
