namespace Shoal.Raft.Storage;

/// <summary>
/// A WAL segment or snapshot file does not open with the payload protector in use: it was written with another data
/// key, or encrypted while the member now runs without encryption (or the reverse). Nothing is read from it.
/// </summary>
public sealed class DataKeyMismatchException : Exception
{
    /// <summary>Creates the exception for <paramref name="file"/>.</summary>
    public DataKeyMismatchException(string file)
        : base($"{file} does not open with this member's data key: it was written with another key, or with encryption turned the other way. Start the member with the key the raft directory was written with (with autolock, check the unlock key)")
    {
        File = file;
    }

    /// <summary>The file (full path).</summary>
    public string File { get; }
}
