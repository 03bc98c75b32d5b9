using System.Buffers.Text;
using Shoal.Api;

namespace Shoal.Agent.Logs;

/// <summary>One line of a task's output, without its line terminator.</summary>
/// <param name="Timestamp">When the executor read the line (or, for a line without a timestamp, the last one known).</param>
/// <param name="Stream">stdout or stderr.</param>
/// <param name="Data">The raw bytes of the line.</param>
public readonly record struct LogLine(DateTimeOffset Timestamp, LogStream Stream, byte[] Data);

/// <summary>
/// Reads one task output file incrementally, as the process executor writes it: one line per output line,
/// <c>&lt;seconds since the epoch&gt;.&lt;fraction&gt; &lt;raw line&gt;</c>, appended and never rewritten. Each
/// <see cref="Read"/> returns the complete lines appended since the previous one; a last line without its newline is
/// a write in progress and waits for the next read. A line that does not start with a timestamp is taken whole,
/// stamped with the last timestamp the file had. A file that does not exist (yet, or any more) reads as empty.
/// </summary>
public sealed class LogFile
{
    /// <summary>The longest line returned as one; a longer one is cut into pieces of this size.</summary>
    public const int MaxLineBytes = 64 * 1024;

    private readonly byte[] _buffer = new byte[MaxLineBytes];
    private byte[] _partial = new byte[256];
    private int _partialLength;
    private long _offset;
    private DateTimeOffset? _lastTimestamp;

    /// <param name="path">The file (it may not exist yet).</param>
    /// <param name="stream">The stream its lines are labelled with.</param>
    public LogFile(string path, LogStream stream)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        Stream = stream;
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>The stream its lines are labelled with.</summary>
    public LogStream Stream { get; }

    /// <summary>Bytes of the file consumed so far (complete lines and the line in progress).</summary>
    public long Offset => _offset;

    /// <summary>
    /// Appends to <paramref name="into"/> at most <paramref name="maxLines"/> complete lines written since the last
    /// call, in file order, and returns how many it appended (0 at the end of the file, or when it does not exist).
    /// </summary>
    public int Read(List<LogLine> into, int maxLines)
    {
        ArgumentNullException.ThrowIfNull(into);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLines, 1);
        FileStream file;
        try
        {
            file = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return 0;
        }

        using (file)
        {
            if (file.Length < _offset)
            {
                // The file was replaced by a shorter one (the contract says it never is): start it again.
                _offset = 0;
                _partialLength = 0;
            }

            file.Seek(_offset, SeekOrigin.Begin);
            var added = 0;
            while (added < maxLines)
            {
                var read = file.Read(_buffer, 0, _buffer.Length);
                if (read == 0)
                {
                    break;
                }

                var chunk = _buffer.AsSpan(0, read);
                while (added < maxLines)
                {
                    var newline = chunk.IndexOf((byte)'\n');
                    if (newline < 0)
                    {
                        added += KeepPartial(chunk, into, maxLines - added);
                        break;
                    }

                    into.Add(Parse(Concat(chunk[..newline])));
                    _offset += newline + 1;
                    chunk = chunk[(newline + 1)..];
                    added++;
                }

                if (added >= maxLines)
                {
                    break;
                }
            }

            return added;
        }
    }

    /// <summary>
    /// Keeps the bytes of the line in progress, cutting off (and returning) full pieces of <see cref="MaxLineBytes"/>
    /// so that a line without end cannot grow without bound.
    /// </summary>
    private int KeepPartial(ReadOnlySpan<byte> bytes, List<LogLine> into, int room)
    {
        var added = 0;
        while (added < room && _partialLength + bytes.Length >= MaxLineBytes)
        {
            var take = MaxLineBytes - _partialLength;
            into.Add(Parse(Concat(bytes[..take])));
            _offset += take;
            bytes = bytes[take..];
            added++;
        }

        if (_partialLength + bytes.Length >= MaxLineBytes)
        {
            // No room left for another piece this call: the rest is read again next time.
            return added;
        }

        if (_partialLength + bytes.Length > _partial.Length)
        {
            Array.Resize(ref _partial, Math.Max(_partial.Length * 2, _partialLength + bytes.Length));
        }

        bytes.CopyTo(_partial.AsSpan(_partialLength));
        _partialLength += bytes.Length;
        _offset += bytes.Length;
        return added;
    }

    /// <summary>The line in progress followed by <paramref name="tail"/>, as one new array; the line in progress is consumed.</summary>
    private byte[] Concat(ReadOnlySpan<byte> tail)
    {
        var line = new byte[_partialLength + tail.Length];
        _partial.AsSpan(0, _partialLength).CopyTo(line);
        tail.CopyTo(line.AsSpan(_partialLength));
        _partialLength = 0;
        return line;
    }

    private LogLine Parse(byte[] raw)
    {
        if (TryParseTimestamp(raw, out var timestamp, out var messageStart))
        {
            _lastTimestamp = timestamp;
            return new LogLine(timestamp, Stream, messageStart == raw.Length ? [] : raw[messageStart..]);
        }

        return new LogLine(_lastTimestamp ??= FirstTimestamp(), Stream, raw);
    }

    /// <summary>For lines before any timestamp (not written by the executor): when the file was last written.</summary>
    private DateTimeOffset FirstTimestamp()
    {
        try
        {
            return new DateTimeOffset(File.GetLastWriteTimeUtc(Path), TimeSpan.Zero);
        }
        catch (IOException)
        {
            return DateTimeOffset.UnixEpoch;
        }
    }

    /// <summary>
    /// Reads the <c>&lt;seconds&gt;.&lt;fraction&gt; </c> prefix the executor writes (bash's <c>$EPOCHREALTIME</c>,
    /// whose separator follows the locale: '.' or ','), followed by one space or the end of the line.
    /// </summary>
    /// <param name="line">The raw line.</param>
    /// <param name="timestamp">The time it names.</param>
    /// <param name="messageStart">Where the message begins.</param>
    public static bool TryParseTimestamp(ReadOnlySpan<byte> line, out DateTimeOffset timestamp, out int messageStart)
    {
        timestamp = default;
        messageStart = 0;
        var separator = line.IndexOfAny((byte)'.', (byte)',');
        if (separator is < 1 or > 12)
        {
            return false;
        }

        var end = line.IndexOf((byte)' ');
        if (end < 0)
        {
            end = line.Length;
        }

        if (end < separator)
        {
            return false;
        }

        var fraction = line[(separator + 1)..end];
        if (fraction.Length is < 1 or > 9 || fraction.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
        {
            return false;
        }

        if (!Utf8Parser.TryParse(line[..separator], out long seconds, out var consumed) || consumed != separator || line[0] is < (byte)'0' or > (byte)'9')
        {
            return false;
        }

        long ticks = 0;
        for (var i = 0; i < 7; i++)
        {
            ticks = ticks * 10 + (i < fraction.Length ? fraction[i] - '0' : 0);
        }

        if (seconds > (DateTimeOffset.MaxValue - DateTimeOffset.UnixEpoch).Ticks / TimeSpan.TicksPerSecond - 1)
        {
            return false;
        }

        timestamp = DateTimeOffset.UnixEpoch.AddTicks(seconds * TimeSpan.TicksPerSecond + ticks);
        messageStart = Math.Min(end + 1, line.Length);
        return true;
    }
}
