namespace Shoal.Store;

/// <summary>A secondary-index key: a string part and a number part, compared by value (no allocation for
/// enum-valued or composite keys such as a task's service and slot).</summary>
public readonly record struct IndexKey(string Text, long Number)
{
    public static IndexKey Of(string text) => new(text, 0);

    public static IndexKey Of(long number) => new(string.Empty, number);
}
