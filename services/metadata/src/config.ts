/** metadata's own variables, on top of the chassis ones (see README). */
export const configSpec = {};
