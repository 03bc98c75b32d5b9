namespace Shoal.Api.Validation;

/// <summary>
/// Collects the problems of one spec. The subject ("service \"web\"") is only formatted when the first problem is
/// recorded, so validating a valid spec costs this one object and nothing else.
/// </summary>
internal sealed class Problems(string kind, string? name)
{
    private List<string>? _errors;
    private string? _subject;

    public bool Any => _errors is not null;

    public void Add(string message)
    {
        _subject ??= string.IsNullOrEmpty(name) ? $"{kind} (no name)" : $"{kind} {Text.Quote(name)}";
        (_errors ??= []).Add($"{_subject}: {message}");
    }

    public ValidationResult ToResult() => ValidationResult.FromErrors(_errors);
}
