namespace Shoal.Api.Validation;

/// <summary>
/// A spec submitted by a user breaks one or more rules. The HTTP layer maps it to 400 and gRPC to InvalidArgument;
/// every entry of <see cref="Errors"/> names the object, the field, the cause and the offending value.
/// </summary>
public sealed class SpecValidationException : Exception
{
    public SpecValidationException()
        : this(["spec is invalid"])
    {
    }

    public SpecValidationException(string message)
        : this([message])
    {
    }

    public SpecValidationException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [message];
    }

    public SpecValidationException(IReadOnlyList<string> errors)
        : base(JoinErrors(errors))
    {
        Errors = errors.Count == 0 ? ["spec is invalid"] : [.. errors];
    }

    /// <summary>Every problem found, in the order the validator met them; never empty.</summary>
    public IReadOnlyList<string> Errors { get; }

    private static string JoinErrors(IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        return errors.Count == 0 ? "spec is invalid" : string.Join("; ", errors);
    }
}
