-- A video with a poster frame has thumbnails like an image.
ALTER TABLE media ADD COLUMN poster boolean NOT NULL DEFAULT false;
