/** Every way an id can be refused, as stable codes callers can branch on. */
export const IdErrorCodes = {
  /** Not a canonical decimal string (empty, sign, leading zero, spaces, letters, a JSON number...). */
  InvalidFormat: 'ID_INVALID_FORMAT',
  /** A well-formed integer outside 0..2^63-1 (a Postgres `bigint` that no generator mints). */
  OutOfRange: 'ID_OUT_OF_RANGE',
  /** A field given to `encode` (time, shard, sequence) outside its bit width. */
  InvalidField: 'ID_INVALID_FIELD',
  /** The generator's clock is before the epoch or past the last positive id (2060-11-03). */
  ClockOutOfRange: 'ID_CLOCK_OUT_OF_RANGE',
} as const;

export type IdErrorCode = (typeof IdErrorCodes)[keyof typeof IdErrorCodes];

/** An id that cannot be parsed, encoded or generated. Malformed input maps to HTTP 400. */
export class IdError extends Error {
  override readonly name = 'IdError';
  /** 400 for ids that came from outside (format/range), 500 for programming or clock faults. */
  readonly statusCode: number;

  readonly code: IdErrorCode;

  constructor(code: IdErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.statusCode = code === IdErrorCodes.InvalidFormat || code === IdErrorCodes.OutOfRange ? 400 : 500;
  }
}
