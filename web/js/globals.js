// Loaded before tf.min.js. Its bundled regenerator-runtime assigns the global `regeneratorRuntime`
// from strict-mode code; with no such global that throws and it falls back to Function(...),
// which the page's Content-Security-Policy (no 'unsafe-eval') refuses. Declaring it avoids both.
var regeneratorRuntime; // eslint-disable-line no-var, no-unused-vars
