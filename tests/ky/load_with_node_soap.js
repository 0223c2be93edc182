// Build a node-soap client from each WSDL URL given; print "OK <url> <service> <operations>" or "FAIL <url> <error>".
const soap = require("soap");

(async () => {
  for (const url of process.argv.slice(2)) {
    try {
      const client = await soap.createClientAsync(url);
      const description = client.describe();
      const service = Object.keys(description)[0];
      const port = Object.keys(description[service])[0];
      console.log("OK", url, service, Object.keys(description[service][port]).join(","));
    } catch (e) {
      console.log("FAIL", url, e.message);
      process.exitCode = 1;
    }
  }
})();
