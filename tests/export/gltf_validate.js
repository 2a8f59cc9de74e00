// Validate one glTF / GLB file with the Khronos glTF validator and print its JSON report on stdout.
// Usage: node gltf_validate.js FILE   (NODE_PATH must reach the gltf-validator package)
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

const file = process.argv[2];
const bytes = new Uint8Array(fs.readFileSync(file));
validator.validateBytes(bytes, { uri: path.basename(file), maxIssues: 100 })
  .then((report) => { process.stdout.write(JSON.stringify(report)); })
  .catch((error) => { process.stderr.write(String(error) + "\n"); process.exit(2); });
