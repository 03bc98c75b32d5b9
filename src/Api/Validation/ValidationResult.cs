namespace Shoal.Api.Validation;

/// <summary>The outcome of validating one spec: every problem found, not just the first.</summary>
public sealed class ValidationResult
{
    private ValidationResult(string[] errors) => Errors = errors;

    /// <summary>The shared result for a spec without problems (validating a valid spec allocates no result).</summary>
    public static ValidationResult Valid { get; } = new([]);

    public bool IsValid => Errors.Count == 0;

    /// <summary>One operator-readable message per problem, each prefixed with the object it concerns.</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <summary>Throws <see cref="SpecValidationException"/> carrying <see cref="Errors"/> when the spec is invalid.</summary>
    public void ThrowIfInvalid()
    {
        if (!IsValid)
        {
            throw new SpecValidationException(Errors);
        }
    }

    internal static ValidationResult FromErrors(List<string>? errors) =>
        errors is null || errors.Count == 0 ? Valid : new ValidationResult([.. errors]);
}
