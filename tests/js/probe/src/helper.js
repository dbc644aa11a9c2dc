export function describe(input) {
  return JSON.stringify(input);
}
