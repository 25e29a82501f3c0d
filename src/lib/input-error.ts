/**
 * An error in what the user asked for (a setting out of range, a prompt too long, a malformed file), as opposed to
 * a failure of the machine. The worker reports it as invalid input, so the UI shows it beside the form and keeps
 * everything the user entered.
 */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}
